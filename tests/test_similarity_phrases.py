"""Similarity phrases ("like Hotel California", "sounds like early Eagles but calmer") on a small
library of real audio, tagged with mutagen before it is indexed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musictext.seeds import NAMES_CACHE
from tests.conftest import SR, tone
from tests.test_cli_index_search import _mt, json_lines

# file name: (title, artist, album, year, audio)
TRACKS = {
    "hotel.flac": ("Hotel California", "Eagles", "Hotel California", "1976", dict(freqs=(440.0,), clicks=6, seed=2)),
    "newkid.flac": ("New Kid in Town", "Eagles", "Hotel California", "1976", dict(freqs=(440.0,), clicks=5, seed=3)),
    "easy.flac": ("Take It Easy", "Eagles", "Eagles", "1972", dict(freqs=(330.0, 495.0), clicks=0, seed=4)),
    "cafe.flac": ("Café Señor", "Beyoncé", "Lemonade", "2016", dict(freqs=(440.0,), clicks=8, seed=5, amp=0.6)),
    "angel.flac": ("Angel", "Sade", "Diamond Life", "1984", dict(freqs=(440.0,), clicks=2, seed=6, amp=0.08)),
    "hum.flac": ("Hum", "Brian Eno", "Ambient 1", "1978", dict(freqs=(110.0, 165.0), clicks=0, seed=7, amp=0.1)),
    "angel2.flac": ("Angel", "Merzbow", "Pulse Demon", "1996", None),  # white noise
}


def _write(path: Path, spec: dict | None) -> None:
    if spec is None:
        y = np.random.default_rng(9).normal(0, 0.25, SR * 6).astype(np.float32)
    else:
        y = tone(6, spec["freqs"], seed=spec["seed"], clicks_per_s=spec["clicks"], amp=spec.get("amp", 0.3))
    sf.write(path, y, SR, format="FLAC")


def _tag(path: Path, title: str, artist: str, album: str, year: str) -> None:
    import mutagen

    f = mutagen.File(str(path))
    f["title"], f["artist"], f["album"], f["date"] = [title], [artist], [album], [year]
    f.save()


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    """The tagged library, indexed once: (root, mt) where mt runs the CLI on it."""
    root = tmp_path_factory.mktemp("tagged") / "Music"
    root.mkdir()
    for name, (title, artist, album, year, spec) in TRACKS.items():
        _write(root / name, spec)
        _tag(root / name, title, artist, album, year)
    (root / "copies").mkdir()
    shutil.copy(root / "hotel.flac", root / "copies" / "hotel (copy).flac")  # byte-identical
    env = {**os.environ, "MUSICTEXT_HOME": str(tmp_path_factory.mktemp("tagged-home"))}

    def mt(*args, **kwargs):
        return _mt(*args, env=env, **kwargs)

    mt("index", str(root))
    return root, mt


def names(hits: list[dict]) -> list[str]:
    return [Path(h["path"]).name for h in hits]


def test_title_resolves_and_the_seed_its_copies_and_album_are_not_results(tagged):
    root, mt = tagged
    res = mt("search", "songs like Hotel California", "--json", "-n", "20")
    hits = json_lines(res.stdout)
    seed = hits[0]["seed"]
    assert seed["kind"] == "title" and seed["name"] == "Eagles – Hotel California" and seed["confidence"] == 1.0
    assert Path(seed["track"]["path"]).name in ("hotel.flac", "hotel (copy).flac")
    got = names(hits)
    assert "hotel.flac" not in got and "hotel (copy).flac" not in got
    assert "newkid.flac" not in got  # same album: discovery, not a listing
    assert got[0] == "cafe.flac"  # the other fast clicks are the nearest
    # the album of the same name is the same answer, not an ambiguity
    assert "may mean several" not in res.stderr
    with_album = names(json_lines(mt("search", "like hotel california", "--same-album", "--json").stdout))
    assert "newkid.flac" in with_album and "hotel.flac" not in with_album


def test_case_accents_punctuation_and_typos_do_not_matter(tagged):
    _, mt = tagged
    for query in ("like CAFE SENOR", "similar to café señor!", "in the style of Cafe-Senor"):
        seed = json_lines(mt("search", query, "--json", "-n", "3").stdout)[0]["seed"]
        assert (seed["kind"], seed["name"]) == ("title", "Beyoncé – Café Señor"), query
    fuzzy = json_lines(mt("search", "like hotel califronia", "--json", "-n", "3").stdout)[0]["seed"]
    assert fuzzy["name"] == "Eagles – Hotel California" and 0.8 <= fuzzy["confidence"] < 1.0
    both = json_lines(mt("search", "like Eagles – New Kid in Town", "--json", "-n", "3").stdout)[0]["seed"]
    assert (both["kind"], both["name"]) == ("title", "Eagles – New Kid in Town")
    by = json_lines(mt("search", "like new kid in town by the eagles", "--json", "-n", "3").stdout)[0]["seed"]
    assert (by["kind"], by["name"]) == ("title", "Eagles – New Kid in Town")


def test_artist_and_album_seed_with_their_centroid(tagged):
    _, mt = tagged
    hits = json_lines(mt("search", "sounds like beyonce", "--json", "-n", "20").stdout)
    assert (hits[0]["seed"]["kind"], hits[0]["seed"]["name"], hits[0]["seed"]["tracks"]) == ("artist", "Beyoncé", 1)
    assert "cafe.flac" not in names(hits)
    hits = json_lines(mt("search", "music like diamond life", "--json", "-n", "20").stdout)
    assert (hits[0]["seed"]["kind"], hits[0]["seed"]["name"]) == ("album", "Diamond Life (Sade)")
    assert "angel.flac" not in names(hits)
    hits = json_lines(mt("search", "eagles-style", "--json", "-n", "20").stdout)
    assert (hits[0]["seed"]["kind"], hits[0]["seed"]["tracks"]) == ("artist", 4)  # the copy counts too
    assert not {"hotel.flac", "newkid.flac", "easy.flac"} & set(names(hits))
    # "early Eagles": the earliest years only (1972), so the hum-like Take It Easy is the seed
    early = json_lines(mt("search", "sounds like early eagles", "--json", "-n", "20").stdout)
    assert (early[0]["seed"]["early"], early[0]["seed"]["tracks"]) == ("early", 1)
    assert early[0]["path"].endswith("hum.flac")
    assert not {"easy.flac"} & set(names(early))
    late = json_lines(mt("search", "like late eagles", "--json", "-n", "20").stdout)
    assert (late[0]["seed"]["early"], late[0]["seed"]["tracks"]) == ("late", 3)  # 1976: two songs and a copy


def test_ambiguity_is_said_and_pick_chooses(tagged):
    _, mt = tagged
    res = mt("search", "like angel", "--json", "-n", "3")
    first = json_lines(res.stdout)[0]["seed"]
    assert "may mean several" in res.stderr and "Merzbow – Angel" in res.stderr and "Sade – Angel" in res.stderr
    assert len(first["candidates"]) == 2
    picked = json_lines(mt("search", "like angel", "--pick", "2", "--json", "-n", "3").stdout)[0]["seed"]
    assert picked["name"] != first["name"] and {picked["name"], first["name"]} == {"Merzbow – Angel", "Sade – Angel"}
    explained = mt("search", "like angel", "--explain", "-n", "3")
    assert "seed: title" in explained.stderr and "also: 2)" in explained.stderr
    bad = mt("search", "like angel", "--pick", "5", check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--pick 5" in bad.stderr


def test_nothing_matching_says_so_and_the_words_count_as_a_description(tagged):
    _, mt = tagged
    res = mt("search", "like zebra stampede", "--json", "-n", "3")
    hits = json_lines(res.stdout)
    assert len(hits) == 3 and "seed" not in hits[0]
    assert "no title, artist or album in the library is like 'zebra stampede'" in res.stderr
    # "like a rainy day" describes a mood: no seed, and no warning about it
    res = mt("search", "like a rainy day", "--json", "-n", "3")
    assert "seed" not in json_lines(res.stdout)[0] and "no title" not in res.stderr


def test_but_calmer_moves_within_the_seed_neighbourhood(tagged):
    _, mt = tagged
    plain = names(json_lines(mt("search", "like Café Señor", "--json", "-n", "20").stdout))
    calmer = json_lines(mt("search", "like Café Señor but calmer", "--json", "-n", "20").stdout)
    assert calmer[0]["seed"]["rest"] == "calm"
    got = names(calmer)
    assert "cafe.flac" not in got and "cafe.flac" not in plain
    # the neighbourhood is the other clicky tracks; the quiet, sparse one is the calmer one
    assert plain.index("hotel.flac") < plain.index("angel.flac")
    assert got.index("angel.flac") < got.index("hotel.flac")
    assert got.index("angel.flac") < got.index("hum.flac")  # still like the seed: clicks before the hum
    minus = json_lines(mt("search", "like Café Señor without drums", "--json", "-n", "3").stdout)
    assert minus[0]["seed"]["rest"] == "-drums"


def test_similar_artist_lists_artists_with_track_counts(tagged):
    _, mt = tagged
    rows = json_lines(mt("similar", "--artist", "BEYONCE", "--json").stdout)
    assert rows and all(r["seed"]["name"] == "Beyoncé" for r in rows)
    assert "Beyoncé" not in [r["artist"] for r in rows]
    by_name = {r["artist"]: r for r in rows}
    assert by_name["Eagles"]["tracks"] == 4 and by_name["Brian Eno"]["tracks"] == 1
    assert rows[0]["artist"] in ("Eagles", "Sade") and rows[-1]["artist"] in ("Brian Eno", "Merzbow")
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    plain = mt("similar", "--artist", "eagles", "-n", "2").stdout.split("\n")
    assert len([line for line in plain if line]) == 2
    missing = mt("similar", "--artist", "Nobody Atall", check=False)
    assert missing.returncode == 3 and "no artist in the library is like" in missing.stderr
    neither = mt("similar", check=False)
    assert neither.returncode == 2


def test_names_cache_follows_tag_changes(tmp_path, musictext_home):
    """The resolver caches the library's names; a retag must show in the next search."""
    root = tmp_path / "Music"
    root.mkdir()
    for name in ("hotel.flac", "cafe.flac", "hum.flac"):
        title, artist, album, year, spec = TRACKS[name]
        _write(root / name, spec)
        _tag(root / name, title, artist, album, year)
    _mt("index", str(root))
    first = json_lines(_mt("search", "like hum", "--json", "-n", "1").stdout)[0]["seed"]
    assert first["name"] == "Brian Eno – Hum"
    assert (musictext_home / "index" / NAMES_CACHE).exists()
    _tag(root / "hum.flac", "Drone", "Brian Eno", "Ambient 1", "1978")
    _mt("index", str(root))
    res = _mt("search", "like drone", "--json", "-n", "1")
    assert json_lines(res.stdout)[0]["seed"]["name"] == "Brian Eno – Drone"


def test_playlist_understands_similarity_phrases(tagged, tmp_path):
    _, mt = tagged
    entries = json_lines(mt("playlist", "songs like hotel california", "--json", "-n", "4").stdout)
    assert len(entries) == 4 and entries[0]["seed"]["name"] == "Eagles – Hotel California"
    got = names(entries)
    assert not {"hotel.flac", "hotel (copy).flac", "newkid.flac"} & set(got) and got[0] == "cafe.flac"
    calmer = names(json_lines(mt("playlist", "like Café Señor but calmer", "--json", "-n", "4").stdout))
    assert "cafe.flac" not in calmer and calmer.index("angel.flac") < calmer.index("hotel.flac")
    second = json_lines(mt("search", "like angel", "--json", "-n", "1").stdout)[0]["seed"]["candidates"][1]["name"]
    res = mt("playlist", "like angel", "--pick", "2", "--json", "-n", "2")
    assert json_lines(res.stdout)[0]["seed"]["name"] == second and "may mean several" in res.stderr
    out = tmp_path / "like.m3u8"
    mt("playlist", "like hotel california", "-o", str(out), "-n", "3")
    assert "hotel.flac" not in out.read_text() and "like hotel california" in out.read_text()


def test_names_are_compared_without_case_accents_punctuation_or_a_leading_the():
    from musictext.seeds import normalise

    assert normalise("Beyoncé & The Band!") == "beyonce and the band"
    assert normalise("The Beatles") == normalise("beatles") == "beatles"
    assert normalise("AC/DC") == "ac dc" and normalise("Sigur Rós") == "sigur ros"
    assert normalise("東京事変") == "東京事変"  # other scripts are kept, not dropped


def test_the_rest_of_the_query_becomes_terms():
    from musictext.seeds import find_phrases, rest_query

    assert rest_query("songs", " but calmer without vocals") == ("calm - vocals", "calm")
    assert rest_query("", " + piano") == ("piano", "")
    assert rest_query("", " with more strings, less drums") == ("strings - drums", "")
    assert rest_query("music that", "") == ("", "")
    (phrase,) = find_phrases("sounds like Hotel California but calmer")
    assert phrase.region == "Hotel California" and not phrase.style
    (style,) = find_phrases("calm beatles-style piano")
    assert style.region == "calm beatles" and style.style


def test_name_index_cache_round_trip_and_fuzzy_lookup(tmp_path):
    from musictext.seeds import KINDS, NameIndex

    rows = [
        (1, "Hotel California", "Eagles", "Hotel California", None, 1976),
        (2, "Angel", "Sade", "Diamond Life", None, 1984),
        (3, "Angel", "Merzbow", None, "Various Artists", None),
    ]
    built = NameIndex.build(rows, "sig-1")
    path = tmp_path / "names.bin"
    built.save(path)
    assert NameIndex.load(path, "sig-2") is None  # another state of the library: rebuilt
    index = NameIndex.load(path, "sig-1")
    assert len(index) == len(built) == 9  # 3 titles (one per artist), 3 artists + 1 album artist, 2 albums
    best, conf = index.lookup("hotel califronia", (KINDS.index("title"),))[0]
    assert index.shown[best] == "Eagles – Hotel California" and 0.8 < conf < 1.0
    angels = [index.shown[e] for e, c in index.lookup("angel", (0,)) if c == 1.0]
    assert sorted(angels) == ["Merzbow – Angel", "Sade – Angel"]
    artists = {index.shown[e] for e, c in index.lookup("various artists", (1,)) if c == 1.0}
    assert artists == {"Various Artists"} and list(index.entry_ids(best)) == [1]
    assert list(index.years_of(np.array([1, 3]))) == [1976, 0]
