"""The beets plugin (beetsplug/musictext.py) against real beets: a generated library imported with
``beet import -A`` into a temporary BEETSDIR, each command run as `python -m beets`, fields read back
with `beet ls`, files read back with mutagen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import SR, make_library, tone

pytest.importorskip("beets")
mutagen = pytest.importorskip("mutagen")

ROOT = Path(__file__).resolve().parents[1]


def beet(lib, *args: str, check: bool = True, config: Path | None = None) -> subprocess.CompletedProcess:
    extra = ["-c", str(config)] if config else []
    proc = subprocess.run(
        [sys.executable, "-m", "beets", *extra, *args], capture_output=True, text=True, env=lib.env, cwd=lib.tmp
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"beet {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def tag_files(folder: Path, artist_prefix: str = "Artist") -> None:
    """artist/title/album tags (album = folder name), so `import -A` makes one album per folder."""
    import mediafile

    for i, path in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        media = mediafile.MediaFile(str(path))
        media.artist, media.title, media.album = f"{artist_prefix} {i}", path.stem, path.parent.name
        media.albumartist = "Various"
        media.save()


def indexed_paths(lib) -> set[str]:
    from musictext.library.store import Store

    db = lib.home / "library.sqlite3"
    if not db.exists():
        return set()
    with Store(db, readonly=True) as store:
        return {t.path for t in store.tracks().values()}


def id3_or_vorbis(path: Path, key: str) -> list[str]:
    """A tag's values as stored: ID3 frame (TMOO, TXXX:NAME) or Vorbis key (MOOD, NAME)."""
    tags = mutagen.File(path).tags
    if tags is None:
        return []
    if hasattr(tags, "getall"):  # ID3 (mp3, wav)
        frames = tags.getall(key)
        return [str(v) for f in frames for v in f.text]
    return list(tags.get(key, []))


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """Six tracks in two albums (busy, calm), imported as-is and indexed once with `beet mtindex`;
    one more file lies in the music folder, never imported."""
    tmp = tmp_path_factory.mktemp("beets")
    music = make_library(tmp)
    tag_files(music)
    beetsdir, home = tmp / "beetsdir", tmp / "mthome"
    beetsdir.mkdir()
    (beetsdir / "config.yaml").write_text(
        f"directory: {music}\nlibrary: {beetsdir / 'library.db'}\nplugins: musictext\n"
        "import: {copy: no, write: no}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "BEETSDIR": str(beetsdir),
        "MUSICTEXT_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    lib = SimpleNamespace(tmp=tmp, music=music, beetsdir=beetsdir, home=home, env=env)
    beet(lib, "import", "-A", "-q", str(music))
    lib.indexed_after_import = indexed_paths(lib)  # auto: no, the default
    import soundfile as sf

    sf.write(music / "calm" / "stranger.wav", tone(4, (330.0,)), SR)
    lib.index_output = beet(lib, "mtindex").stdout
    return lib


def test_help_lists_the_commands_without_loading_musictext(lib):
    code = (
        "import sys, io, contextlib\n"
        "sys.argv = ['beet', '--help']\n"
        "from beets.ui import main\n"
        "out = io.StringIO()\n"
        "try:\n"
        "    with contextlib.redirect_stdout(out): main()\n"
        "except SystemExit: pass\n"
        "print([c for c in ('mtindex', 'mtsearch', 'mtsimilar', 'mttag', 'mtplaylist') if c in out.getvalue()])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('musictext', 'onnxruntime', 'librosa')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=lib.env, cwd=lib.tmp)
    commands, heavy = proc.stdout.splitlines()[-2:]
    assert commands == "['mtindex', 'mtsearch', 'mtsimilar', 'mttag', 'mtplaylist']", proc.stderr
    assert heavy == "[]"


def test_mtindex_indexes_exactly_the_items(lib):
    items = {str(p) for p in lib.music.rglob("*") if p.is_file() and p.name != "stranger.wav"}
    assert len(items) == 6
    assert lib.indexed_after_import == set()  # no import stage unless `auto: yes`
    assert "indexed 6, unchanged 0" in lib.index_output
    assert indexed_paths(lib) == items  # the folder's other file is left alone
    again = beet(lib, "mtindex", "album:calm").stdout
    assert "indexed 0, unchanged 3" in again
    missing = beet(lib, "mtindex", "title:nothing-like-this", check=False)
    assert missing.returncode == 1 and "no items match" in missing.stderr


def test_mtsearch_ranks_the_selected_items_in_beets_formats(lib):
    titles = lines(beet(lib, "mtsearch", "drums", "-f", "$title").stdout)
    assert len(titles) == 6 and titles[0] == "clicks"
    # the beets query restricts the candidates
    calm = lines(beet(lib, "mtsearch", "drums", "album:calm", "-f", "$album/$title").stdout)
    assert len(calm) == 3 and all(t.startswith("calm/") for t in calm)
    paths = lines(beet(lib, "mtsearch", "loud", "-p", "-n", "2").stdout)
    assert len(paths) == 2 and all(Path(p).is_absolute() and Path(p).exists() for p in paths)
    assert Path(paths[0]).name == "noise.flac"
    default = lines(beet(lib, "mtsearch", "loud", "-n", "1").stdout)
    assert default == ["Artist 1 - busy - noise"]  # beets' format_item: $artist - $album - $title
    empty = beet(lib, "mtsearch", "  ", check=False)
    assert empty.returncode == 1 and "give a description" in empty.stderr


def test_mtsimilar_finds_items_like_the_first_match(lib):
    titles = lines(beet(lib, "mtsimilar", "title:clicks", "-f", "$title").stdout)
    assert len(titles) == 5 and "clicks" not in titles
    assert len(lines(beet(lib, "mtsimilar", "title:clicks", "-n", "2", "-p").stdout)) == 2


def test_mttag_pretend_database_and_write(lib):
    busy = sorted((lib.music / "busy").iterdir())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in busy}
    shown = beet(lib, "mttag", "-v", "moods", "--relative", "-k", "2", "-p", "album:busy")
    assert "would change 3 item(s)" in shown.stdout and "mt_mood" in shown.stdout
    assert lines(beet(lib, "ls", "-f", "[$mt_mood]").stdout) == ["[]"] * 6  # pretend stores nothing

    beet(lib, "mttag", "-v", "moods", "--relative", "-k", "2", "album:busy")  # import.write is no: database only
    moods = dict(line.split("=", 1) for line in lines(beet(lib, "ls", "-f", "$album/$title=$mt_mood").stdout))
    assert all(len(moods[f"busy/{t}"].split("; ")) == 2 for t in ("clicks", "noise", "tone"))
    assert moods["calm/chord"] == moods["calm/tone"] == ""
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in busy} == before
    first = moods["busy/clicks"].split("; ")[0]
    assert "clicks" in beet(lib, "ls", "-f", "$title", f"mt_mood:{first}").stdout

    wrote = beet(lib, "mttag", "-v", "moods", "--relative", "-k", "2", "-w", "album:busy").stdout
    assert "wrote 3 file(s)" in wrote  # already in the database, not yet in the files
    for path, key in ((lib.music / "busy" / "clicks.wav", "TMOO"), (lib.music / "busy" / "noise.flac", "MOOD")):
        assert id3_or_vorbis(path, key) == moods[f"busy/{path.stem}"].split("; ")
    mp3 = lib.music / "busy" / "tone.mp3"
    assert id3_or_vorbis(mp3, "TMOO") == moods["busy/tone"].split("; ")
    assert id3_or_vorbis(mp3, "TPE1") == ["Artist 2"]  # beets' own fields as they were

    # a custom field goes into the tag `musictext tag` uses for it; -p writes nothing
    flac = lib.music / "busy" / "noise.flac"
    snapshot = flac.read_bytes()
    beet(lib, "mttag", "-v", "instruments", "--relative", "-k", "1", "-w", "-p", "title:noise")
    assert flac.read_bytes() == snapshot
    beet(lib, "mttag", "-v", "instruments", "--relative", "-k", "1", "-w", "title:noise")
    (instrument,) = lines(beet(lib, "ls", "-f", "$mt_instrument", "title:noise").stdout)
    assert id3_or_vorbis(flac, "INSTRUMENT") == [instrument]


def test_mttag_follows_beets_write_setting(lib):
    overlay = lib.tmp / "write.yaml"
    overlay.write_text("import: {write: yes}\n", encoding="utf-8")
    wav = lib.music / "calm" / "low hum.wav"
    snapshot = wav.read_bytes()
    beet(lib, "mttag", "-v", "eras", "--relative", "-k", "1", "-W", "title:hum", config=overlay)  # -W wins
    assert wav.read_bytes() == snapshot and lines(beet(lib, "ls", "-f", "$mt_era", "title:hum").stdout)
    beet(lib, "mttag", "-v", "eras", "--relative", "-k", "1", "title:hum", config=overlay)
    (era,) = lines(beet(lib, "ls", "-f", "$mt_era", "title:hum").stdout)
    assert id3_or_vorbis(wav, "TXXX:ERA") == [era]


def test_mttag_refuses_undeclared_fields(lib, tmp_path):
    vocab = tmp_path / "tempo.txt"
    vocab.write_text("[tempo]\nfast\nslow\n", encoding="utf-8")
    proc = beet(lib, "mttag", "-v", str(vocab), check=False)
    assert proc.returncode == 1 and "tempo" in proc.stderr and "fields" in proc.stderr
    overlay = tmp_path / "fields.yaml"
    overlay.write_text("musictext: {fields: [mood, tempo]}\n", encoding="utf-8")
    beet(lib, "mttag", "-v", str(vocab), "--relative", "-k", "1", "title:clicks", config=overlay)
    assert lines(beet(lib, "ls", "-f", "$mt_tempo", "title:clicks", config=overlay).stdout)[0] in ("fast", "slow")


def test_mtplaylist_paths_relative_to_the_playlist(lib, tmp_path):
    dest = tmp_path / "lists" / "calm.m3u8"
    dest.parent.mkdir()
    beet(lib, "mtplaylist", "calm quiet", "-n", "3", "-o", str(dest))
    entries = [line for line in dest.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert len(entries) == 3 and all(not os.path.isabs(e) for e in entries)
    assert all((dest.parent / e).resolve().is_file() for e in entries)
    again = beet(lib, "mtplaylist", "calm quiet", "-o", str(dest), check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    beet(lib, "mtplaylist", "calm quiet", "-n", "3", "-o", str(dest), "--absolute", "--force")
    entries = [line for line in dest.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert len(entries) == 3 and all(os.path.isabs(e) and os.path.isfile(e) for e in entries)


def test_mtplaylist_draws_only_from_the_query_items(lib, tmp_path):
    dest = tmp_path / "clicks.m3u8"
    wanted = {os.path.realpath(p) for p in lines(beet(lib, "ls", "-p", "title:clicks").stdout)}
    assert wanted
    beet(lib, "mtplaylist", "calm quiet", "title:clicks", "-n", "5", "--absolute", "-o", str(dest))
    entries = [line for line in dest.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert entries and {os.path.realpath(e) for e in entries} <= wanted
    unquoted = beet(lib, "mtplaylist", "calm", "nosuchwordanywhere", "-o", str(tmp_path / "x.m3u8"), check=False)
    assert unquoted.returncode == 1 and "in quotes" in unquoted.stderr and "Traceback" not in unquoted.stderr


def test_auto_indexes_imported_items(lib):
    import soundfile as sf

    plain, auto = lib.tmp / "more" / "plain", lib.tmp / "more" / "auto"
    for folder, freq in ((plain, 523.0), (auto, 587.0)):
        folder.mkdir(parents=True)
        sf.write(folder / f"{folder.name}.wav", tone(4, (freq,)), SR)
        tag_files(folder, artist_prefix=folder.name)
    beet(lib, "import", "-A", "-q", str(plain))
    overlay = lib.tmp / "auto.yaml"
    overlay.write_text("musictext: {auto: yes}\n", encoding="utf-8")
    beet(lib, "import", "-A", "-q", str(auto), config=overlay)
    known = indexed_paths(lib)
    assert str(auto / "auto.wav") in known and str(plain / "plain.wav") not in known
    # imported but not indexed: said, not guessed
    tagged = beet(lib, "mttag", "-v", "moods", "title:plain")
    assert "changed 0 item(s); 1 not indexed" in tagged.stdout and "not indexed" in tagged.stderr
    found = beet(lib, "mtsearch", "calm", "title:plain")
    assert found.stdout == "" and "none of the matching items is indexed" in found.stderr


def test_mttag_genres_option_adds_to_beets_genres(lib, tmp_path):
    mp3 = lib.music / "busy" / "tone.mp3"
    assert id3_or_vorbis(mp3, "TCON") == ["Test"]  # the fixture's own genre
    overlay = tmp_path / "genres.yaml"
    overlay.write_text("musictext: {genres: yes}\n", encoding="utf-8")
    beet(lib, "mttag", "-v", "genres", "--relative", "-k", "1", "-w", "album:busy", "title:tone", config=overlay)
    (genre,) = lines(beet(lib, "ls", "-f", "$mt_genre", "album:busy", "title:tone").stdout)
    assert lines(beet(lib, "ls", "-f", "$genres", "album:busy", "title:tone").stdout) == [f"Test; {genre}"]
    assert id3_or_vorbis(mp3, "TCON") == ["Test", genre]
    # without the option, mt_genre stays in the database: beets' genres and the file keep theirs
    flac = lib.music / "busy" / "noise.flac"
    beet(lib, "mttag", "-v", "genres", "--relative", "-k", "1", "-w", "title:noise")
    assert lines(beet(lib, "ls", "-f", "$mt_genre", "title:noise").stdout)
    assert id3_or_vorbis(flac, "GENRE") == [] and lines(beet(lib, "ls", "-f", "[$genres]", "title:noise").stdout) == [
        "[]"
    ]


def test_home_option_points_at_another_musictext_library(lib, tmp_path):
    overlay = tmp_path / "home.yaml"
    overlay.write_text(f"musictext: {{home: {tmp_path / 'elsewhere'}}}\n", encoding="utf-8")
    proc = beet(lib, "mtsearch", "calm", config=overlay, check=False)
    assert proc.returncode == 1 and "library is empty" in proc.stderr
    # a search never creates the data folder it reads (read-only commands leave no trace)
    assert not (tmp_path / "elsewhere").exists() and lines(beet(lib, "mtsearch", "calm", "-n", "1").stdout)
