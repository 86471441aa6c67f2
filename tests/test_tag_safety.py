"""Tag writing and undo under adversity: odd files, links, other programs, crashes, races.

Real tiny files of every taggable format, copied to tmp_path before any write. The library is
filled through the Store (the interface `index` uses) and tag runs are driven through
`tagging.plan_and_write` with chosen terms, so no model has to run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from musictext.config import db_path
from musictext.errors import LibraryBusyError, TagWriteError, UsageError
from musictext.library.files import content_hash, library_lock
from musictext.library.store import Store
from musictext.tags import files as tagfiles
from musictext.tags import tagging
from musictext.tags.tagging import TagScores, TrackTags
from tests.conftest import AUDIO
from tests.test_cli_index_search import json_lines, mt

ROOT = Path(__file__).parent.parent
FORMATS = ["tone.mp3", "tone_v24.mp3", "tone.flac", "tone.ogg", "tone.opus", "tone.m4a", "tone.wav", "tone.aiff"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_tracks(*paths: Path) -> dict[Path, int]:
    """Put files in the library the way `index` does (path as named, size, mtime, hash)."""
    ids = {}
    with Store(db_path()) as store, store.batch():
        for p in paths:
            st = os.stat(p)
            ids[p] = store.upsert_track(str(p), st.st_size, st.st_mtime_ns, content_hash(str(p), st.st_size), 2.0, {})
    return ids


def tag_run(tracks: dict[Path, int], terms: list[tuple[str, str]], **kw):
    """One `tag --write` run giving every track the same (term, field) pairs."""
    chosen = [(term, field, 0.9) for term, field in terms]
    result = TagScores([], [TrackTags(tid, str(p), chosen) for p, tid in tracks.items()], [])
    return tagging.plan_and_write(result, write=True, command="tag --write (test)", **kw)


def by_status(outcomes) -> dict[str, list]:
    out: dict[str, list] = {}
    for o in outcomes:
        out.setdefault(o.status, []).append(o)
    return out


@pytest.fixture
def lib(tmp_path) -> Path:
    root = tmp_path / "lib"
    root.mkdir()
    return root


def copy_in(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(AUDIO / name, dest)
    return dest


# --------------------------------------------------------------------------- 1. format and links


@pytest.mark.parametrize(("source", "name"), [("tone.m4a", "x.mp3"), ("tone.flac", "x.ogg"), ("tone.mp3", "x.wav")])
def test_content_decides_the_format_and_a_disagreeing_name_is_refused(lib, source, name):
    path = copy_in(source, lib / name)
    good = copy_in("tone.flac", lib / "good.flac")
    before = digest(path)
    _, outcomes = tag_run(add_tracks(path, good), [("rock", "genre")])
    failed = by_status(outcomes)["failed"]
    assert [o.path for o in failed] == [str(path)]
    assert "content is" in failed[0].reason and "not written" in failed[0].reason
    assert "\n" not in failed[0].reason
    assert digest(path) == before  # no ID3 block put in front of an MP4
    assert [o.path for o in by_status(outcomes)["written"]] == [str(good)]  # the run went on
    assert tagfiles.read_tags(path)["artist"] == ["Test Artist"]  # read as what it really is


def test_links_to_files_outside_the_library_are_not_written(lib, tmp_path):
    outside = copy_in("tone.flac", tmp_path / "outside" / "t.flac")
    copy_in("tone.flac", tmp_path / "outside" / "u.flac")
    before = digest(outside)
    (lib / "t.mp3").symlink_to(outside)  # name and content disagree too
    (lib / "t.flac").symlink_to(outside)
    inside = copy_in("tone.ogg", lib / "b" / "real.ogg")
    (lib / "a").mkdir()
    (lib / "a" / "link.ogg").symlink_to(inside)  # a link within the library is fine
    tracks = add_tracks(lib / "t.mp3", lib / "t.flac", lib / "a" / "link.ogg")
    _, outcomes = tag_run(tracks, [("rock", "genre")])
    failed = {o.path: o.reason for o in by_status(outcomes)["failed"]}
    assert set(failed) == {str(lib / "t.mp3"), str(lib / "t.flac")}
    assert "outside the library" in failed[str(lib / "t.flac")]
    assert digest(outside) == before
    assert [o.path for o in by_status(outcomes)["written"]] == [str(lib / "a" / "link.ogg")]
    assert "rock" in tagfiles.read_tags(inside)["genre"]


# --------------------------------------------------------------------------- 2. undo keeps others' edits


def other_tool_edits(path: Path, **values: str) -> None:
    """Edit tags with mutagen directly, the way another tagger would (title, comment, genre)."""
    import mutagen
    from mutagen.id3 import COMM, ID3, TCON, TIT2, ID3NoHeaderError

    if path.suffix in (".mp3", ".wav", ".aiff"):
        frames = {"title": lambda v: TIT2(encoding=3, text=[v]), "genre": lambda v: TCON(encoding=3, text=[v])}
        frames["comment"] = lambda v: COMM(encoding=3, lang="eng", desc="", text=[v])
        if path.suffix == ".mp3":
            try:
                tags = ID3(path)
            except ID3NoHeaderError:
                tags = ID3()
            for key, value in values.items():
                tags.setall(frames[key](value).FrameID, [frames[key](value)])
            tags.save(path)
            return
        f = mutagen.File(path)
        if f.tags is None:
            f.add_tags()
        for key, value in values.items():
            f.tags.setall(frames[key](value).FrameID, [frames[key](value)])
        f.save()
        return
    f = mutagen.File(path)
    if f.tags is None:
        f.add_tags()
    keys = {"title": "\xa9nam", "comment": "\xa9cmt", "genre": "\xa9gen"} if path.suffix == ".m4a" else {}
    for key, value in values.items():
        f.tags[keys.get(key, key.upper())] = [value]
    f.save()


@pytest.mark.parametrize("name", FORMATS)
def test_undo_keeps_later_edits_by_another_program(lib, name):
    path = copy_in(name, lib / name)
    original = tagfiles.read_tags(path)
    run_id, _ = tag_run(add_tracks(path), [("Ambient", "genre"), ("calm", "mood")])
    other_tool_edits(path, title="Renamed Elsewhere", comment="by hand")
    edited = tagfiles.read_tags(path)
    assert edited["title"] == ["Renamed Elsewhere"] and edited["comment"] == ["by hand"]

    _, outcomes = tagging.undo(str(run_id))
    assert [o.status for o in outcomes] == ["reverted"]
    now = tagfiles.read_tags(path)
    assert now["title"] == ["Renamed Elsewhere"]  # the other program's edit is kept
    assert now["comment"] == ["by hand"]
    assert now.get("genre") == original.get("genre") and now.get("mood") == original.get("mood")
    assert "undone" in {r.state for r in tagging.history()}


def add_cover_art(path: Path) -> None:
    """Another program adds a picture: something musictext does not read as a tag."""
    import mutagen

    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    f = mutagen.File(path)
    if path.suffix == ".flac":
        from mutagen.flac import Picture

        pic = Picture()
        pic.type, pic.mime, pic.data = 3, "image/png", png
        f.add_picture(pic)
    elif path.suffix == ".mp3":
        from mutagen.id3 import APIC

        f.tags.add(APIC(encoding=3, mime="image/png", type=3, desc="", data=png))
    else:
        from mutagen.mp4 import MP4Cover

        f.tags["covr"] = [MP4Cover(png, MP4Cover.FORMAT_PNG)]
    f.save()


def has_cover_art(path: Path) -> bool:
    import mutagen

    f = mutagen.File(path)
    return (
        bool(f.pictures)
        if path.suffix == ".flac"
        else bool(f.tags.getall("APIC") if path.suffix == ".mp3" else f.tags.get("covr"))
    )


@pytest.mark.parametrize("name", ["tone.flac", "tone_v24.mp3", "tone.m4a"])
def test_undo_keeps_cover_art_another_program_added(lib, name):
    path = copy_in(name, lib / name)
    original = tagfiles.read_tags(path)
    run_id, _ = tag_run(add_tracks(path), [("Ambient", "genre")])
    add_cover_art(path)
    assert tagfiles.read_tags(path)["genre"] != original["genre"]
    _, outcomes = tagging.undo(str(run_id))
    assert [o.status for o in outcomes] == ["reverted"]
    assert has_cover_art(path) and tagfiles.read_tags(path) == original


def test_undo_refuses_when_its_own_field_was_edited_since_unless_forced(lib):
    path = copy_in("tone.flac", lib / "t.flac")
    original = digest(path)
    run_id, _ = tag_run(add_tracks(path), [("Ambient", "genre")])
    other_tool_edits(path, genre="Hand Picked")
    edited = digest(path)
    _, outcomes = tagging.undo(str(run_id))
    [o] = outcomes
    assert o.status == "failed" and "genre changed since run" in o.reason and "--force" in o.reason
    assert digest(path) == edited
    assert tagging.history()[-1].state == "done"  # still undoable
    proc = mt("tag", "--undo", str(run_id), check=False)
    assert proc.returncode == 1 and "--force" in proc.stderr and "Traceback" not in proc.stderr
    mt("tag", "--undo", str(run_id), "--force")
    assert digest(path) == original


# --------------------------------------------------------------------------- 3. undo out of order


def test_undo_out_of_order_composes_field_by_field(lib):
    paths = [copy_in(n, lib / n) for n in ("tone.flac", "tone_v24.mp3", "tone.m4a")]
    original = {p: tagfiles.read_tags(p) for p in paths}
    tracks = add_tracks(*paths)
    run1, _ = tag_run(tracks, [("Ambient", "genre")])
    run2, _ = tag_run(tracks, [("calm", "mood")])
    assert {o.status for o in tagging.undo(str(run1))[1]} == {"reverted"}
    for p in paths:
        tags = tagfiles.read_tags(p)
        assert tags["mood"] == ["calm"] and tags.get("genre") == original[p].get("genre")
    tagging.undo(str(run2))
    assert {p: tagfiles.read_tags(p) for p in paths} == original


def test_undo_of_an_older_run_is_refused_where_a_later_run_wrote_the_same_field(lib):
    path = copy_in("tone.ogg", lib / "t.ogg")
    original = digest(path)
    tracks = add_tracks(path)
    run1, _ = tag_run(tracks, [("Ambient", "genre")])
    run2, _ = tag_run(tracks, [("Drone", "genre")])
    [o] = tagging.undo(str(run1))[1]
    assert o.status == "failed" and f"undo run {run2} first" in o.reason
    assert [o.status for o in tagging.undo(str(run2))[1]] == ["restored"]
    assert [o.status for o in tagging.undo(str(run1))[1]] == ["restored"]
    assert digest(path) == original  # byte for byte


# --------------------------------------------------------------------------- 4. lock, temp names


def test_tag_write_and_undo_take_the_library_lock(lib):
    path = copy_in("tone.flac", lib / "t.flac")
    before = digest(path)
    tracks = add_tracks(path)
    with library_lock():
        with pytest.raises(LibraryBusyError):
            tag_run(tracks, [("Ambient", "genre")])
    assert digest(path) == before
    run_id, _ = tag_run(tracks, [("Ambient", "genre")])
    with library_lock():
        with pytest.raises(LibraryBusyError):
            tagging.undo(str(run_id))


SLOW_WRITER = """
import os, sys, time
from musictext.tags import files as tagfiles
real_replace = os.replace
def slow_replace(a, b):
    print("replacing", flush=True)
    time.sleep(1.5)
    real_replace(a, b)
os.replace = slow_replace
tagfiles.write(sys.argv[1], {"genre": ["From A"]}, mode="replace")
print("done", flush=True)
"""


def test_two_writes_at_once_do_not_destroy_each_other(lib):
    path = copy_in("tone.flac", lib / "t.flac")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "replacing"  # A's temp file is complete, A is mid-replace
    [live] = tagfiles.leftover_paths(lib, path.name)
    assert live.name.endswith(".musictext-tmp")
    with pytest.raises(TagWriteError, match="locked"):
        tagfiles.write(path, {"genre": ["From B"]}, mode="replace")
    assert live.exists()  # B did not delete A's temporary file
    assert proc.stdout.readline().strip() == "done" and proc.wait(timeout=30) == 0
    assert tagfiles.read_tags(path)["genre"] == ["From A"]
    assert not tagfiles.leftover_paths(lib)


def test_a_temp_file_in_use_is_not_removed_but_a_dead_one_is(lib):
    path = copy_in("tone.flac", lib / "t.flac")
    live = lib / ".t.flac.musictext-tmp"  # the name every earlier writer used
    live.write_bytes(path.read_bytes())
    dead = lib / ".t.flac.4242-deadbeef.musictext-tmp"
    dead.write_bytes(b"left by kill -9")
    with open(live, "rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # a write in flight holds its temp file
        tagfiles.write(path, {"mood": ["calm"]})
        assert live.exists() and not dead.exists()
    assert tagfiles.read_tags(path)["mood"] == ["calm"]


# --------------------------------------------------------------------------- 5. damaged files


def truncated(data: bytes) -> bytes:
    return data[: len(data) - 333]


def garbled(data: bytes) -> bytes:
    pages = [i for i in range(len(data)) if data.startswith(b"OggS", i)]
    at = pages[len(pages) // 2]
    return data[:at] + b"\x00JUNK" * 8 + data[at + 40 :]


@pytest.mark.parametrize("damage", [truncated, garbled])
@pytest.mark.parametrize("name", ["tone.ogg", "tone.opus"])
def test_damaged_ogg_that_undo_could_not_restore_is_not_written(lib, name, damage):
    path = lib / name
    path.write_bytes(damage((AUDIO / name).read_bytes()))
    before = digest(path)
    _, outcomes = tag_run(add_tracks(path), [("Ambient", "genre")])
    [o] = outcomes
    assert o.status == "failed" and "could not restore it exactly" in o.reason
    assert digest(path) == before
    with Store(db_path()) as store:
        assert not store.journal_entries(1, ("done", "planned"))
    assert not tagfiles.leftover_paths(lib)


# --------------------------------------------------------------------------- 8. leftovers of kill -9

KILLED_WRITER = """
import os, signal, sys
from musictext.tags import files as tagfiles
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
tagfiles.write(sys.argv[1], {"genre": ["Rock"]})
"""


def kill_mid_write(path: Path) -> Path:
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], cwd=ROOT, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    [orphan] = tagfiles.leftover_paths(path.parent, path.name)
    return orphan


def test_leftovers_are_removed_by_status_repair_and_the_next_run_and_never_indexed(lib):
    from musictext.library.scan import scan

    path = copy_in("tone.flac", lib / "t.flac")
    other = copy_in("tone.mp3", lib / "sub" / "o.mp3")
    tracks = add_tracks(path, other)
    orphan = kill_mid_write(other)
    assert sorted(f.path for f in scan([lib])) == sorted([str(other), str(path)])  # `index` never picks it up
    proc = mt("status", "--repair")
    assert not orphan.exists() and "removed 1 leftover" in proc.stderr
    orphan = kill_mid_write(path)
    _, outcomes = tag_run(tracks, [("Ambient", "genre")])
    assert not orphan.exists()
    assert [o.path for o in by_status(outcomes)["removed leftover"]] == [str(orphan)]
    assert len(by_status(outcomes)["written"]) == 2


# --------------------------------------------------------------------------- 9. flock held by others


def test_file_locked_by_another_program_is_skipped(lib):
    path = copy_in("tone.m4a", lib / "t.m4a")
    good = copy_in("tone.flac", lib / "g.flac")
    before = digest(path)
    with open(path, "r+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        _, outcomes = tag_run(add_tracks(path, good), [("Ambient", "genre")])
        ino = os.fstat(other.fileno()).st_ino
    [o] = by_status(outcomes)["failed"]
    assert o.path == str(path) and "locked" in o.reason
    assert digest(path) == before and os.stat(path).st_ino == ino  # its later writes would not be lost
    assert len(by_status(outcomes)["written"]) == 1


# --------------------------------------------------------------------------- 10. which fields


@pytest.mark.parametrize("section", ["title", "replaygain_track_gain", "artist", "musicbrainz_trackid", "tracknumber"])
def test_vocabulary_sections_only_write_descriptive_fields(tmp_path, section):
    vocab = tmp_path / "v.txt"
    vocab.write_text(f"rock\n[mood]\ncalm\n[{section}]\nsomething\n")
    with pytest.raises(UsageError, match=rf"line 4: \[{section}\]"):
        tagging.load_vocab(str(vocab))
    proc = mt("tag", "--vocab", str(vocab), "--dry-run", check=False)
    assert proc.returncode == 2 and "line 4" in proc.stderr and "Traceback" not in proc.stderr


def test_descriptive_sections_and_field_names(tmp_path, lib):
    vocab = tmp_path / "v.txt"
    vocab.write_text(
        "[genre]\nrock\n[mood]\ncalm\n[grouping]\nset A\n[comment]\nnice\n[instrument]\npiano\n[era]\n1970s\n"
    )
    assert len(tagging.load_vocab(str(vocab))) == 6
    path = copy_in("tone.flac", lib / "t.flac")
    with pytest.raises(UsageError, match="--field-name"):
        tag_run(add_tracks(path), [("piano", "instrument")], field_map={"instrument": "TITLE"})


# --------------------------------------------------------------------------- journal, history


CRASH_AFTER_WRITE = """
import os, signal, sys
from musictext.tags import tagging
tagging._refresh_track = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # after the file, before 'done'
chosen = [("Ambient", "genre", 0.9)]
result = tagging.TagScores([], [tagging.TrackTags(int(sys.argv[2]), sys.argv[1], chosen)], [])
tagging.plan_and_write(result, write=True, command="tag --write (crashed)")
"""


CRASH_BEFORE_WRITE = CRASH_AFTER_WRITE.replace(
    "tagging._refresh_track = lambda",
    "from musictext.tags import files\nfiles.write = lambda",
)


def test_an_entry_left_planned_by_a_crash_is_undone_keeping_later_edits(lib):
    path = copy_in("tone.flac", lib / "t.flac")
    original = tagfiles.read_tags(path)
    [tid] = add_tracks(path).values()
    proc = subprocess.run([sys.executable, "-c", CRASH_AFTER_WRITE, str(path), str(tid)], cwd=ROOT, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert "Ambient" in tagfiles.read_tags(path)["genre"]
    with Store(db_path()) as store:
        assert [e.state for e in store.journal_entries(1, ("planned", "done"))] == ["planned"]
    other_tool_edits(path, title="Renamed Elsewhere")
    [row] = json_lines(mt("tag", "--history", "--json").stdout)
    assert row["state"] == "interrupted" and row["run"] == 1
    _, outcomes = tagging.undo("last")
    assert [o.status for o in outcomes] == ["reverted"]
    now = tagfiles.read_tags(path)
    assert now["genre"] == original["genre"] and now["title"] == ["Renamed Elsewhere"]
    assert tagging.history()[-1].state == "undone"

    # Killed before the file was touched: the planned entry is undone without writing anything.
    before = digest(path)
    proc = subprocess.run([sys.executable, "-c", CRASH_BEFORE_WRITE, str(path), str(tid)], cwd=ROOT, timeout=60)
    assert proc.returncode == -signal.SIGKILL and digest(path) == before
    assert tagging.undo("last")[1] == []
    assert tagging.history()[-1].state == "undone" and digest(path) == before


def test_history_has_headers_and_json(lib):
    path = copy_in("tone.flac", lib / "t.flac")
    tag_run(add_tracks(path), [("Ambient", "genre")])
    lines = mt("tag", "--history").stdout.splitlines()
    assert lines[0].split() == ["run", "started", "files", "state", "command"]
    assert lines[1].split()[0] == "1" and "done" in lines[1]
    [row] = json_lines(mt("tag", "--history", "--json").stdout)
    assert row["run"] == 1 and row["files"] == 1 and row["state"] == "done"
    assert row["command"] == "tag --write (test)" and row["finished"] >= row["started"]


def test_journal_sql_lives_in_the_store():
    source = (ROOT / "musictext" / "tags" / "tagging.py").read_text()
    assert "store.conn" not in source and "conn.execute" not in source


def test_each_field_is_declared_once():
    from musictext.tags import fields

    assert (fields.MOOD.id3, fields.MOOD.vorbis[0], fields.MOOD.mp4) == ("TMOO", "MOOD", "----:com.apple.iTunes:MOOD")
    source = (ROOT / "musictext" / "tags" / "files.py").read_text()
    for literal in ('"TCON"', '"TIT2"', '"\\xa9gen"', '"GENRE"', '"ALBUMARTIST"', '".flac"', '".m4a"'):
        assert literal not in source, literal
    assert fields.describing_field("genre") and fields.describing_field("instrument")
    assert not fields.describing_field("title") and not fields.describing_field("REPLAYGAIN_TRACK_GAIN")
