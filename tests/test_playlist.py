"""`musictext playlist`: files players can open, the variety rules, walks, lengths and auto playlists.

One small tagged library is indexed once (by the real CLI) and shared; the rules are checked on
the service in-process, the files and errors through the CLI.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musictext import playlists
from musictext.errors import MusictextError, NotFoundError
from tests.conftest import SR, tone
from tests.test_cli_index_search import json_lines, mt

ARTISTS = ("Ada", "Bo", "Cleo")


def _make_library(root: Path) -> None:
    """Twelve tagged FLACs by three artists, two untagged WAVs, and a byte-for-byte copy of one FLAC."""
    from musictext.tags import files as tagfiles

    root.mkdir(parents=True)
    for i in range(12):
        path = root / ARTISTS[i % 3] / f"song {i:02d}.flac"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, tone(5 + i % 4, (110.0 * (1 + i % 6) + 7 * i,), seed=i, clicks_per_s=i % 4), SR)
        tagfiles.write(path, {"artist": [ARTISTS[i % 3]], "title": [f"Song {i}"]}, "replace")
    (root / "untagged").mkdir()
    for i in range(2):
        sf.write(root / "untagged" / f"loose {i}.wav", tone(6, (300.0 + 90 * i,), seed=20 + i), SR)
    shutil.copy(root / "Ada" / "song 00.flac", root / "untagged" / "copy of song 00.flac")


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("playlist")
    root, home = base / "Music", base / "home"
    _make_library(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSICTEXT_HOME", str(home))
        mt("index", str(root), env=os.environ.copy())
    return root, home


@pytest.fixture
def music(shared, monkeypatch) -> Path:
    """The indexed library's folder, with MUSICTEXT_HOME pointing at its store."""
    root, home = shared
    monkeypatch.setenv("MUSICTEXT_HOME", str(home))
    return root


def _stored() -> dict[str, object]:
    from musictext.config import db_path
    from musictext.library.store import Store

    with Store(db_path(), readonly=True) as store:
        return {t.path: t for t in store.tracks().values()}


def _parse_m3u8(path: Path) -> list[tuple[int, str, str]]:
    """(EXTINF seconds, EXTINF title, path line) for each entry; checks the header and line pairs."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    body = [line for line in lines[1:] if not line.startswith(("#PLAYLIST:", "#MUSICTEXT:"))]
    out = []
    for info, entry in zip(body[::2], body[1::2]):
        assert info.startswith("#EXTINF:") and not entry.startswith("#")
        seconds, title = info[len("#EXTINF:") :].split(",", 1)
        out.append((int(seconds), title, entry))
    assert len(body) == 2 * len(out)
    return out


def _gap_holds(tracks, gap: int) -> bool:
    seen: dict[str, int] = {}
    for pos, t in enumerate(tracks):
        key = playlists.artist_key(t)
        if key is not None:
            if key in seen and pos - seen[key] <= gap:
                return False
            seen[key] = pos
    return True


def test_playlist_file_parses_back_and_is_not_overwritten(music, tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    dest = lists / "calm.m3u8"
    proc = mt("playlist", "calm piano", "-n", "8", "-o", str(dest))
    assert proc.stdout == "" and "wrote" in proc.stderr
    entries = _parse_m3u8(dest)
    stored = _stored()
    assert len(entries) == 8
    for seconds, title, line in entries:
        assert not os.path.isabs(line)
        resolved = os.path.normpath(os.path.join(dest.parent, line))
        assert os.path.exists(resolved) and resolved in stored  # resolves from the playlist's folder
        track = stored[resolved]
        assert seconds == round(track.duration)
        assert title == (f"{track.artist} - {track.title}" if track.artist else Path(resolved).stem)
    assert len({line for _, _, line in entries}) == 8

    before = dest.read_bytes()
    again = mt("playlist", "calm piano", "-n", "3", "-o", str(dest), check=False)
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1 and dest.read_bytes() == before
    mt("playlist", "calm piano", "-n", "3", "-o", str(dest), "--force", "--absolute")
    assert [os.path.isabs(line) for _, _, line in _parse_m3u8(dest)] == [True] * 3

    dry = mt("playlist", "calm piano", "-n", "4", "-o", str(lists / "new.m3u8"), "--dry-run", "--json")
    rows = json_lines(dry.stdout)
    assert not (lists / "new.m3u8").exists() and "would write" in dry.stderr
    assert [r["position"] for r in rows] == [1, 2, 3, 4]
    assert {"position", "path", "artist", "title", "duration", "score"} <= set(rows[0])

    blocker = tmp_path / "a file"
    blocker.write_text("x")
    bad = mt("playlist", "calm piano", "-o", str(blocker / "out.m3u8"), check=False)
    assert bad.returncode == 1 and "cannot write" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_artist_gap_and_no_duplicate_files(music):
    stored = _stored()
    copy = str(music / "untagged" / "copy of song 00.flac")
    original = str(music / "Ada" / "song 00.flac")
    assert stored[copy].content_hash == stored[original].content_hash  # the copy is indexed too
    for query, diversity in (("piano", 0.0), ("fast drums", 0.5), ("quiet", 1.0)):
        pl = playlists.make_playlist(query, n=40, artist_gap=2, diversity=diversity)
        tracks = [e.track for e in pl.entries]
        assert _gap_holds(tracks, 2), [t.artist for t in tracks]
        assert len({t.path for t in tracks}) == len(tracks)
        assert len({t.content_hash for t in tracks}) == len(tracks)  # never both the file and its copy
        assert pl.warnings and "asked for 40" in pl.warnings[0]  # 15 files, 14 distinct: said, not hidden
    # Every distinct file, in relevance order, when no rule gets in the way.
    plain = playlists.make_playlist("piano", n=40)
    assert len(plain) == 14
    scores = [e.score for e in plain.entries]
    assert scores == sorted(scores, reverse=True)


def test_diversity_spreads_the_playlist(music):
    from musictext.library.view import Library

    lib = Library()
    try:
        joint = np.asarray(lib.space.joint)
        row = {lib.store.tracks([int(t)])[int(t)].path: r for r, t in enumerate(lib.space.ids)}
    finally:
        lib.close()

    def spread(pl) -> float:
        v = joint[[row[e.track.path] for e in pl.entries]]
        sims = v @ v.T
        return float(sims[np.triu_indices(len(v), 1)].mean())

    focused = playlists.make_playlist("piano", n=5)
    varied = playlists.make_playlist("piano", n=5, diversity=0.7)
    assert focused.entries[0].track.path == varied.entries[0].track.path  # the best match leads both
    assert spread(varied) < spread(focused)


def test_walk_starts_at_a_ends_at_b_and_changes_gradually(music, tmp_path):
    from musictext.library.view import Library

    a, b = music / "Ada" / "song 03.flac", music / "Bo" / "song 10.flac"
    pl = playlists.make_playlist(start=str(a), end=str(b), n=9)
    paths = [e.track.path for e in pl.entries]
    assert len(paths) == 9 and paths[0] == str(a) and paths[-1] == str(b) and len(set(paths)) == 9

    lib = Library()
    try:
        by_path = {lib.store.tracks([int(t)])[int(t)].path: r for r, t in enumerate(lib.space.ids)}
        v = np.asarray(lib.space.joint)[[by_path[p] for p in paths]]
    finally:
        lib.close()

    def smoothness(order) -> float:
        return float(np.mean([v[i] @ v[j] for i, j in zip(order, order[1:])]))

    rng = np.random.default_rng(0)
    middle = np.arange(1, 8)
    random_orders = [smoothness([0, *rng.permutation(middle), 8]) for _ in range(200)]
    assert smoothness(list(range(9))) > np.mean(random_orders)

    # A seed outside the library is analysed on the fly and still opens the playlist.
    outside = tmp_path / "outside.wav"
    sf.write(outside, tone(7, (440.0,), seed=2, clicks_per_s=6), SR)
    pl = playlists.make_playlist(start=str(outside), end=str(b), n=4, artist_gap=1)
    assert pl.entries[0].track.path == str(outside) and round(pl.entries[0].track.duration) == 7
    assert pl.entries[-1].track.path == str(b) and len(pl) == 4
    assert _gap_holds([e.track for e in pl.entries], 1)


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("90m", 5400),
        ("1h30m", 5400),
        ("45m", 2700),
        ("3600s", 3600),
        ("1h", 3600),
        ("1:30:00", 5400),
        ("2.5m", 150),
        ("20", 1200),
    ],
)
def test_parse_duration(text, seconds):
    assert playlists.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "0m", "m"])
def test_parse_duration_refuses_nonsense(text):
    with pytest.raises(MusictextError):
        playlists.parse_duration(text)


@pytest.mark.parametrize("target", [20.0, 33.0, 61.0])
def test_duration_lands_within_one_track(music, target):
    pl = playlists.make_playlist("rock", duration=target, artist_gap=1)
    lengths = [e.track.duration for e in pl.entries]
    assert abs(sum(lengths) - target) <= max(lengths), (sum(lengths), lengths)
    assert not pl.warnings
    walk = playlists.make_playlist(
        start=str(music / "Ada" / "song 03.flac"), end=str(music / "Bo" / "song 10.flac"), duration=target
    )
    assert abs(walk.duration - target) <= max(e.track.duration for e in walk.entries)


def test_like_and_exclude(music, tmp_path):
    seed = music / "Ada" / "song 00.flac"
    listed = [music / "Bo" / "song 01.flac", music / "Cleo" / "song 02.flac", music / "untagged" / "loose 0.wav"]
    old = tmp_path / "old.m3u"
    old.write_text("#EXTM3U\n" + "".join(f"{os.path.relpath(p, tmp_path)}\n" for p in listed), encoding="utf-8")
    assert playlists.read_m3u(old) == [str(p) for p in listed]

    pl = playlists.make_playlist("but calmer", like=[str(seed)], n=40, exclude=[str(old)])
    paths = {e.track.path for e in pl.entries}
    assert not paths & {str(p) for p in listed}
    assert str(seed) not in paths and str(music / "untagged" / "copy of song 00.flac") not in paths
    assert len(pl) == 15 - 3 - 2  # all but the excluded, the seed and the seed's copy
    only_seed = playlists.make_playlist(like=[str(seed)], n=3)
    assert len(only_seed) == 3 and only_seed.name == "like song 00"
    with pytest.raises(NotFoundError):
        playlists.make_playlist("rock", exclude=[str(tmp_path / "missing.m3u8")])


def test_auto_playlists_cover_the_library_without_overlap(music, tmp_path):
    folder = tmp_path / "auto"
    proc = mt("playlist", "--auto", "3", "-o", f"{folder}/", "--artist-gap", "1")
    files = sorted(folder.glob("*.m3u8"))
    assert len(files) == 3 and proc.stderr.count("wrote") == 3
    listed = []
    for f in files:
        assert f.stem == playlists.slugify(f.read_text(encoding="utf-8").splitlines()[1][len("#PLAYLIST:") :])
        entries = _parse_m3u8(f)
        assert entries
        listed += [os.path.normpath(os.path.join(folder, line)) for _, _, line in entries]
    stored = _stored()
    assert len(listed) == len(set(listed))  # no overlap
    hashes = {stored[p].content_hash for p in listed}
    assert all(t.content_hash in hashes for t in stored.values())  # every file (a copy counts once)
    assert len(listed) == 14

    again = mt("playlist", "--auto", "3", "-o", f"{folder}/", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_kmeans_is_deterministic_and_fills_every_cluster():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(c, 0.1, (10, 4)) for c in (0.0, 3.0, 6.0)])
    labels = playlists.kmeans(x, 3)
    assert np.array_equal(labels, playlists.kmeans(x, 3))
    assert sorted(np.bincount(labels)) == [10, 10, 10]
    same = np.zeros((5, 2))  # identical points still make 5 non-empty clusters
    assert sorted(np.bincount(playlists.kmeans(same, 5), minlength=5)) == [1] * 5


def test_cluster_names_read_like_a_description():
    tags = ["rock", "folk", "Mellow", "acoustic", "female vocalists", "female vocalist", "80s"]
    library = np.full(len(tags), 0.2)
    cluster = np.array([0.1, 0.6, 0.5, 0.55, 0.2, 0.2, 0.2])
    terms = playlists.name_cluster(cluster, library, tags)
    assert terms == ["folk", "acoustic", "mellow"]
    assert " ".join(playlists._name_order(terms)) == "mellow acoustic folk"
    vocal = playlists.name_cluster(np.array([0.2, 0.2, 0.2, 0.2, 0.9, 0.8, 0.2]), library, tags, 2)
    assert vocal == ["female vocalists"]  # one family of words, said once
    assert playlists.slugify("Mellow Acoustic / Folk — 80s") == "mellow-acoustic-folk-80s"


def test_empty_library_and_usage(tmp_path):
    proc = mt("playlist", "jazz", "-o", str(tmp_path / "x.m3u8"), check=False)
    assert proc.returncode == 3 and "musictext index" in proc.stderr and not (tmp_path / "x.m3u8").exists()
    assert len(proc.stderr.strip().splitlines()) == 1
    with pytest.raises(MusictextError):
        playlists.make_playlist(start="a.flac")
