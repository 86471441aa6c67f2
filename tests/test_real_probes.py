"""The label rules of models/real_probes.py: labels come from where a file lies and its name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
real_probes = pytest.importorskip("real_probes")


@pytest.mark.parametrize(
    "package, rel, expected",
    [
        ("supertux-data", "usr/share/games/supertux2/music/antarctic/jewels.ogg", {"winter"}),
        ("supertux-data", "usr/share/games/supertux2/music/forest/forest-cave.ogg", {"forest music", "cave"}),
        ("supertux-data", "usr/share/games/supertux2/music/retro/classic.ogg", {"chiptune"}),
        ("supertux-data", "usr/share/games/supertux2/music/misc/battle_theme.ogg", {"battle music"}),
        ("supertux-data", "usr/share/games/supertux2/music/misc/credits.ogg", set()),
        ("hedgewars-data", "usr/share/games/hedgewars/Data/Music/snow.ogg", {"winter"}),
        ("hedgewars-data", "usr/share/games/hedgewars/Data/Music/Castle.ogg", {"castle"}),
        ("freedroidrpg-data", "usr/share/freedroidrpg/data/sound/music/TechBattle.ogg", {"battle music"}),
        ("xmoto-data", "usr/share/games/xmoto/Textures/Musics/batcave.ogg", {"cave"}),
        ("lmms-common", "usr/share/lmms/samples/drums/kick_hiphop01.ogg", {"kick drum"}),
        ("lmms-common", "usr/share/lmms/samples/drums/hihat_opened01.ogg", {"hi-hat"}),
        ("lmms-common", "usr/share/lmms/samples/beats/break01.ogg", {"drum loop"}),
        ("lmms-common", "usr/share/lmms/samples/instruments/piano01.ogg", set()),
        ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/Audiophob/Snare_1.flac", {"snare drum"}),
        ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/Audiophob/Crash_1.flac", {"cymbal"}),
        ("hydrogen-data", "usr/share/hydrogen/data/drumkits/GMRockKit/Kick-Softest.wav", {"kick drum"}),
        ("hydrogen-data", "renders/GM_kit_demo1.wav", {"drum loop"}),
        # a demo song's name is not a drum hit's name: "tutorial_georgyporgy" holds no "tom" rule match
        ("hydrogen-data", "renders/tutorial_georgyporgy.wav", {"drum loop"}),
        ("megaglest-data", "usr/share/games/megaglest/tilesets/forest/sounds/rain.ogg", {"nature sounds"}),
        ("megaglest-data", "usr/share/games/megaglest/techs/megapack/factions/magic/music/music_magic.ogg", set()),
        ("flare-game", "usr/share/games/flare/mods/fantasycore/soundfx/environment/river_loop.ogg", {"nature sounds"}),
        ("flare-game", "usr/share/games/flare/mods/fantasycore/soundfx/environment/anvil_loop.ogg", set()),
        ("flare-game", "usr/share/games/flare/mods/fantasycore/music/boss_theme.ogg", {"battle music"}),
        ("flare-game", "usr/share/games/flare/mods/fantasycore/music/dungeon_theme.ogg", {"cave"}),
        ("widelands-data", "usr/share/games/widelands/data/sound/animals/bird1_00.ogg", {"nature sounds"}),
        ("widelands-data", "usr/share/games/widelands/data/sound/smiths/smith_01.ogg", set()),
        ("music21@opl3-soundfont", "renders/bach/bwv104.6.flac", {"chorale"}),
        ("music21@timgm6mb-soundfont", "renders/ryansMammoth/ErieHornpipe.flac", {"folk dance"}),
        ("music21@timgm6mb-soundfont", "renders/oneills1850/0401-0486-1.flac", {"folk dance"}),
        ("music21@timgm6mb-soundfont", "renders/palestrina/Agnus_I_18.flac", {"renaissance polyphony"}),
        ("music21@opl3-soundfont", "renders/essenFolksong/han1-0.flac", set()),
        # a word inside another word is not the word; a rule for another package does not apply
        ("supertux-data", "usr/share/games/supertux2/music/misc/bonuscave.ogg", set()),
        ("hedgewars-data", "usr/share/games/hedgewars/Data/Music/kick.ogg", set()),
    ],
)
def test_labels_come_from_paths_and_names(package, rel, expected):
    assert real_probes.labels_of(package, rel) == expected


def test_reserved_packages_are_never_read(tmp_path):
    assert not set(real_probes.PACKAGES) & real_probes.FORBIDDEN
    for label, (_, rules) in real_probes.LABELS.items():
        assert not set(rules) & real_probes.FORBIDDEN, label
    with pytest.raises(SystemExit):
        real_probes.chosen_files("nexuiz-music", tmp_path)


def test_shipped_real_probes_load_calibrated_and_are_named_by_their_words():
    from musictext.evidence import evidence_sources, opposite
    from musictext.lexicon import bundle_lexicon
    from musictext.library.space import bundle_concepts
    from musictext.model.bundle import get_bundle
    from musictext.model.probes import learned_concepts
    from musictext.model.textspace import text_side
    from musictext.query import ConceptMatcher, Term

    bundle = get_bundle(None)
    real = [c for c in bundle.manifest["learned_concepts"] if c.get("source") == real_probes.SOURCE]
    assert real, "the bundle ships no probe learned from real recordings"
    learned = learned_concepts(bundle)
    assert learned.weight.shape[0] == len(bundle.manifest["learned_concepts"])
    concepts = bundle_concepts(bundle)
    # the planner as `search` uses it, lexicon included: no entry shadows a probe's own words
    matcher = ConceptMatcher(concepts, text_side(bundle).encode, bundle_lexicon(bundle), opposite)
    for c in real:
        assert c["validation_auc"] >= real_probes.KEEP_AUC and len(c["validated_on"]) >= real_probes.MIN_PACKAGES
        assert c["calibration"]["a"] > 0  # a higher probe score is a likelier positive
        for phrase in (c["name"], *c["phrases"]):
            matches = matcher.plan(Term(phrase, 1.0)).matches
            assert {concepts[m.concept].name for m in matches} == {c["name"]} and not any(m.entry for m in matches), (
                phrase
            )
        concept = next(x for x in concepts if x.name == c["name"])
        assert evidence_sources(bundle, concept) == ["probe"]


def test_hydrogen_data_reads_its_kits_capped_and_every_rendered_song(tmp_path):
    kit = tmp_path / "usr/share/hydrogen/data/drumkits/GMRockKit"
    kit.mkdir(parents=True)
    for i in range(2 * real_probes.PER_KIT):
        (kit / f"Snare-{i:02d}.wav").write_bytes(b"")
    (tmp_path / "renders").mkdir()
    for song in ("GM_kit_demo1", "TR808kit-demo"):
        (tmp_path / "renders" / f"{song}.wav").write_bytes(b"")
    (tmp_path / "usr/share/hydrogen/data/demo_songs").mkdir(parents=True)
    (tmp_path / "usr/share/hydrogen/data/demo_songs/GM_kit_demo1.h2song").write_text("<song/>")
    chosen = real_probes.chosen_files("hydrogen-data", tmp_path)
    assert sum(c.startswith("renders/") for c in chosen) == 2  # every song, never capped
    assert sum("/drumkits/" in c for c in chosen) == real_probes.PER_KIT  # the kit, evenly thinned
    assert not any(c.endswith(".h2song") for c in chosen)  # the song files themselves are not audio


def test_a_file_linked_into_several_folders_is_read_once(tmp_path):
    sounds = tmp_path / "usr/share/games/megaglest/tilesets"
    for tileset in ("autumn", "forest", "winter"):
        (sounds / tileset / "sounds").mkdir(parents=True)
    (sounds / "autumn/sounds/rain.ogg").write_bytes(b"OggS")
    (sounds / "forest/sounds/rain.ogg").symlink_to(sounds / "autumn/sounds/rain.ogg")
    (sounds / "winter/sounds/wind.ogg").write_bytes(b"OggS")
    chosen = real_probes.chosen_files("megaglest-data", tmp_path)
    assert [c.split("/")[-3] + "/" + c.split("/")[-1] for c in chosen] == ["autumn/rain.ogg", "winter/wind.ogg"]


def test_render_songs_keeps_audible_renders_and_leaves_out_silent_or_failed_ones(tmp_path, capsys):
    songs = tmp_path / "songs"
    songs.mkdir()
    for name in ("loud.h2song", "silent.h2song", "broken.h2song"):
        (songs / name).write_text("<song/>")
    # A stand-in for h2cli with its interface (song in, WAV out): a tone, silence, or a failure.
    script = (
        "import sys, numpy as np, soundfile as sf; song, wav = sys.argv[1:3]; "
        "sys.exit(3) if 'broken' in song else sf.write(wav, "
        "(0.0 if 'silent' in song else 0.5) * np.sin(np.arange(16000) / 4.0), 16000)"
    )
    real_probes.render_songs(tmp_path, "songs", (sys.executable, "-c", script, "{song}", "{wav}"))
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["loud.wav"]
    out = capsys.readouterr().out
    assert "left out silent.h2song" in out and "left out broken.h2song" in out
    before = (tmp_path / "renders" / "loud.wav").stat().st_mtime_ns
    real_probes.render_songs(tmp_path, "songs", (sys.executable, "-c", "raise SystemExit(9)", "{song}", "{wav}"))
    assert (tmp_path / "renders" / "loud.wav").stat().st_mtime_ns == before  # a done render is kept


def test_music21_renders_use_only_soundfonts_the_training_guard_allows():
    """No FluidR3 (the evaluation corpus's soundfont) nor a fork of it (MuseScore General) renders training audio."""
    import m21_renders
    from trainset.fluidsynth import FORBIDDEN_SF, SOUNDFONTS

    assert set(m21_renders.SOUNDFONTS) == set(real_probes.MADE)
    for source, name in m21_renders.SOUNDFONTS.items():
        assert not any(f in SOUNDFONTS[name]["path"].lower() for f in FORBIDDEN_SF)
        assert (
            source == f"music21@{SOUNDFONTS[name]['package']}"
            and real_probes.MADE[source] == SOUNDFONTS[name]["package"]
        )
