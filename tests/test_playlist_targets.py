"""`musictext playlist --for SERVER` and `--update`: files each server reads as written, checked
against a real MPD (started here on 127.0.0.1 with a temporary configuration), and playlists kept
current after the library changes.

One small library (unicode and quote names, a folder MPD cannot see) is indexed once and shared;
MPD runs once for the module and is stopped by the fixture's finalizer.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf

from musictext import playlists
from musictext.errors import MusictextError
from tests.conftest import AUDIO, SR, tone
from tests.test_cli_index_search import mt

ODD_NAMES = ('Café "Noir" ’s.flac', "naïve – 東京.flac", "it's #1.flac", "plain.flac", "a b/c  d.flac")


def _write_track(path: Path, i: int, artist: str | None = None) -> None:
    from musictext.tags import files as tagfiles

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(5 + i % 3, (110.0 * (1 + i % 5) + 9 * i,), seed=i, clicks_per_s=i % 3), SR)
    if artist:
        tagfiles.write(path, {"artist": [artist], "title": [f"Song {i}"]}, "replace")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """(base, music folder, a folder outside it, MUSICTEXT_HOME): indexed once."""
    base = tmp_path_factory.mktemp("targets")
    music, outside, home = base / "Music", base / "Elsewhere", base / "home"
    for i, name in enumerate(ODD_NAMES):
        _write_track(music / "Ünïcode" / name, i, artist=("Ada", "Bo", None)[i % 3])
    for i in range(4):
        _write_track(music / "Bo" / f"song {i}.flac", 10 + i, artist="Bo")
    shutil.copy(AUDIO / "tone.mp3", music / "tone.mp3")
    _write_track(outside / "far away.flac", 20)
    env = {**os.environ, "MUSICTEXT_HOME": str(home)}
    mt("index", str(music), str(outside), env=env)
    return base, music, outside, home


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mpd:
    def __init__(self, conf_dir: Path, music: Path, lists: Path):
        self.music, self.lists = music, lists
        self.port = _free_port()
        state = conf_dir / "state"
        state.mkdir(parents=True)
        self.conf = conf_dir / "mpd" / "mpd.conf"
        self.conf.parent.mkdir(parents=True)
        # Quoted values with an escaped quote, a comment and a block: what parse_mpd_conf must read.
        self.conf.write_text(
            "# a test MPD\n"
            f'music_directory "{music}"\n'
            f'playlist_directory "{lists}"\n'
            f'db_file "{state / "db"}"\n'
            f'log_file "{state / "log"}"\n'
            'bind_to_address "127.0.0.1"\n'
            f'port "{self.port}"\n'
            'zeroconf_enabled "no"\n'
            "audio_output {\n"
            '    type "null"\n'
            '    name "null"\n'
            "}\n",
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            ["mpd", "--no-daemon", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while self.mpc("status", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"mpd did not start: {(state / 'log').read_text(errors='replace')}")
            time.sleep(0.1)
        self.mpc("update", "--wait")

    def mpc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["mpc", "-q", "-h", "127.0.0.1", "-p", str(self.port), *args], capture_output=True, text=True, timeout=30
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"mpc {' '.join(args)} -> {proc.returncode}: {proc.stderr}")
        return proc

    def loaded(self, name: str) -> list[str]:
        """The files MPD queues when it loads ``name``: only the entries it resolved."""
        self.mpc("clear")
        self.mpc("load", name)
        return [line for line in self.mpc("-f", "%file%", "playlist").stdout.split("\n") if line]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def mpd(shared):
    if not (shutil.which("mpd") and shutil.which("mpc")):
        why = "needs mpd and mpc (Debian: apt-get install mpd mpc; .ci/run installs them)"
        if os.environ.get("MUSICTEXT_TEST_TOOLS") == "required":
            pytest.fail(why)
        pytest.skip(why)
    base, music, _, _ = shared
    lists = base / "mpd-playlists"
    lists.mkdir()
    server = Mpd(base / "xdg", music, lists)
    yield server
    server.stop()


@pytest.fixture
def env(shared, monkeypatch):
    """MUSICTEXT_HOME at the shared store."""
    monkeypatch.setenv("MUSICTEXT_HOME", str(shared[3]))
    return os.environ.copy()


@pytest.fixture
def mpd_env(env, mpd, monkeypatch):
    """... and XDG_CONFIG_HOME where the test MPD's mpd.conf is."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(mpd.conf.parent.parent))
    return os.environ.copy()


def _entries(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip() and not line.startswith("#")]


def _indexed(music: Path) -> set[str]:
    from musictext.config import db_path
    from musictext.library.store import Store

    with Store(db_path(), readonly=True) as store:
        return {t.path for t in store.tracks().values()}


def test_mpd_stored_playlists_load_every_entry(shared, mpd, mpd_env):
    env = mpd_env
    _, music, outside, _ = shared
    made = mt("playlist", "calm piano", "-n", "50", "--for", "mpd", env=env)
    auto = mt("playlist", "--auto", "2", "--for", "mpd", "-o", f"{mpd.lists}/", env=env)
    # The far-away track cannot be in an MPD playlist: one line says so, the rest is written.
    assert "outside MPD's music_directory" in made.stderr and "far away.flac" in made.stderr
    assert "(from " in made.stderr and str(mpd.conf) in made.stderr  # where the folders came from
    written = sorted(mpd.lists.glob("*.m3u"))
    assert len(written) == 3 and not list(mpd.lists.glob("*.m3u8"))
    assert (mpd.lists / "calm piano.m3u") in written  # MPD shows the file's name: the playlist's own
    stored = set(mpd.mpc("lsplaylists").stdout.split("\n")) - {""}
    assert stored == {p.stem for p in written}
    in_music = {os.path.relpath(p, music) for p in _indexed(music) if not p.startswith(str(outside))}
    every = []
    for path in written:
        lines = _entries(path)
        assert lines and all(not os.path.isabs(line) for line in lines)
        assert mpd.loaded(path.stem) == lines  # every entry resolves, in order
        every += lines
    assert sorted(_entries(mpd.lists / "calm piano.m3u")) == sorted(in_music)
    grouped = [e for p in written if p.stem != "calm piano" for e in _entries(p)]
    assert sorted(grouped) == sorted(in_music)  # the --auto pair covers the library once
    assert any('Café "Noir" ’s.flac' in e for e in every) and any("東京" in e for e in every)
    assert "outside MPD's music_directory" in auto.stderr
    # Reordered in MPD itself: MPD rewrites the file (without musictext's lines); --update keeps that order.
    mpd.loaded("calm piano")
    mpd.mpc("move", "1", "3")
    mpd.mpc("rm", "calm piano")
    mpd.mpc("save", "calm piano")
    reordered = _entries(mpd.lists / "calm piano.m3u")
    assert "#MUSICTEXT:" not in (mpd.lists / "calm piano.m3u").read_text(encoding="utf-8")
    # --exclude reads the rewritten file from MPD's music folder still (the register says how).
    left = mt("playlist", "calm piano", "-n", "50", "--exclude", str(mpd.lists / "calm piano.m3u"), "--paths", env=env)
    assert left.stdout.split("\n") == [str(outside / "far away.flac"), ""]  # all but what MPD cannot have
    mt("playlist", "--update", str(mpd.lists / "calm piano.m3u"), env=env)
    assert mpd.loaded("calm piano") == reordered == _entries(mpd.lists / "calm piano.m3u")
    assert "#MUSICTEXT:" in (mpd.lists / "calm piano.m3u").read_text(encoding="utf-8")


def test_mpd_playlists_inside_the_music_folder(shared, mpd, mpd_env):
    env = mpd_env
    _, music, _, _ = shared
    folder = music / "Playlists"
    mt("playlist", "busy drums", "-n", "50", "--for", "mpd", "-o", f"{folder}/", env=env)
    mt("playlist", "--from", str(music / "Bo" / "song 0.flac"), "--to", str(music / "tone.mp3"), "-n", "5",
       "--for", "mpd", "-o", str(music / "Ünïcode" / "walk.m3u"), env=env)  # fmt: skip
    mpd.mpc("update", "--wait")
    files = sorted(folder.glob("*.m3u")) + [music / "Ünïcode" / "walk.m3u"]
    assert len(files) == 2
    for path in files:
        lines = _entries(path)
        assert any(line.startswith("../") for line in lines)  # relative to the file, not to the music folder
        uri = os.path.relpath(path, music)
        assert uri in mpd.mpc("ls", os.path.relpath(path.parent, music)).stdout.split("\n")  # MPD found it
        loaded = mpd.loaded(uri)
        assert len(loaded) == len(lines)
        assert loaded == [os.path.relpath(os.path.normpath(path.parent / line), music) for line in lines]
    for path in files:
        path.unlink()
    mpd.mpc("update", "--wait")


def test_mpd_refusals(shared, mpd_env, tmp_path):
    env = mpd_env
    # A stored playlist must be .m3u; --absolute means nothing to MPD.
    bad = mt("playlist", "piano", "--for", "mpd", "-o", str(tmp_path / "x.m3u8"), check=False, env=env)
    assert bad.returncode == 1 and "only from .m3u files" in bad.stderr and not (tmp_path / "x.m3u8").exists()
    bad = mt("playlist", "piano", "--for", "mpd", "--absolute", "-o", str(tmp_path / "x.m3u"), check=False, env=env)
    assert bad.returncode == 1 and "no --absolute" in bad.stderr
    odd = mt("playlist", "piano", "--for", "winamp", check=False, env=env)
    assert odd.returncode == 1 and "one of generic, mpd, navidrome, jellyfin" in odd.stderr


def test_parse_mpd_conf(tmp_path, monkeypatch):
    conf = tmp_path / "mpd.conf"
    conf.write_text(
        '# comment\nmusic_directory\t"~/My \\"Music\\""\n'
        "playlist_directory /var/lib/mpd/playlists   # trailing comment\n"
        'input {\n  plugin "curl"\n  music_directory "/not/this"\n}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    got = playlists.parse_mpd_conf(conf)
    assert got.music_directory == tmp_path / 'My "Music"'
    assert got.playlist_directory == Path("/var/lib/mpd/playlists")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "mpd").mkdir(parents=True)
    (tmp_path / "xdg" / "mpd" / "mpd.conf").write_text('music_directory "/srv/music"\n')
    assert playlists.find_mpd_conf().music_directory == Path("/srv/music")  # MPD's own search order


def test_navidrome_relative_absolute_and_path_map(shared, env):
    _, music, outside, _ = shared
    dest = music / "Playlists" / "nd.m3u8"
    mt("playlist", "calm piano", "-n", "50", "--for", "navidrome", "-o", str(dest), env=env)
    text = dest.read_text(encoding="utf-8")
    assert text.split("\n")[1] == "#PLAYLIST:calm piano"  # Navidrome's name for it
    lines = _entries(dest)
    assert {os.path.normpath(dest.parent / line) for line in lines} == _indexed(music)  # relative to the file
    # A container sees the library as /music: absolute paths mapped; what it cannot see is left out.
    mapped = mt("playlist", "calm piano", "-n", "50", "--for", "navidrome", "--absolute", "--path-map",
                f"{music}=/music", "-o", str(dest), "--force", env=env)  # fmt: skip
    lines = _entries(dest)
    assert lines and all(line.startswith("/music/") for line in lines)
    assert '/music/Ünïcode/Café "Noir" ’s.flac' in lines
    assert "not under any --path-map folder" in mapped.stderr and "far away" in mapped.stderr
    assert str(music) not in dest.read_text(encoding="utf-8").split("#MUSICTEXT:")[0] + "\n".join(lines)
    # The same file read back (as --exclude and --update do) names the local tracks.
    assert set(playlists.read_m3u(dest)) == _indexed(music) - {str(outside / "far away.flac")}
    # A playlist outside the library: written, with a warning that Navidrome will not find it.
    away = mt("playlist", "piano", "--for", "navidrome", "--music-dir", str(music), "-o", str(outside / "x.m3u8"),
              env=env)  # fmt: skip
    assert "Navidrome finds playlists only inside its library" in away.stderr
    (outside / "x.m3u8").unlink()
    no_map = mt("playlist", "piano", "--path-map", f"{music}=/music", "-o", str(dest), "--force", check=False, env=env)
    assert no_map.returncode == 1 and "give --absolute too" in no_map.stderr
    shutil.rmtree(dest.parent)


def test_jellyfin_file_is_named_after_the_playlist(shared, env):
    _, music, _, _ = shared
    folder = music / "Playlists"
    mt("playlist", "Rainy: Sunday/Jazz?", "-n", "3", "--for", "jellyfin", "-o", f"{folder}/", env=env)
    (made,) = folder.iterdir()
    assert made.name == "Rainy Sunday Jazz.m3u8"
    assert all((made.parent / line).exists() for line in _entries(made))
    shutil.rmtree(folder)


def test_config_default_target(shared, env, tmp_path):
    _, music, _, home = shared
    config = home / "config.toml"
    config.write_text(f'[playlist]\nfor = "mpd"\nmusic_dir = "{music}"\n', encoding="utf-8")
    try:
        # The default decides the format; without -o nothing is written, the playlist is printed.
        shown = mt("playlist", "piano", "-n", "3", "--paths", env=env)
        assert len(shown.stdout.split("\n")) == 4 and not list(tmp_path.iterdir())
        mt("playlist", "piano", "-n", "3", "-o", f"{tmp_path}/", env=env)
        (made,) = tmp_path.iterdir()
        assert made.suffix == ".m3u" and all((music / line).exists() for line in _entries(made))
        config.write_text('[playlist]\nfro = "mpd"\n', encoding="utf-8")
        bad = mt("playlist", "piano", "-o", f"{tmp_path}/x.m3u8", check=False, env=env)
        assert bad.returncode == 1 and "unknown setting 'fro'" in bad.stderr and "Traceback" not in bad.stderr
        config.write_text("[playlist\n", encoding="utf-8")
        bad = mt("playlist", "piano", "-o", f"{tmp_path}/x.m3u8", check=False, env=env)
        assert bad.returncode == 1 and "not valid TOML" in bad.stderr
    finally:
        config.unlink()


# --update: its own small library, changed between runs.


@pytest.fixture
def changing(tmp_path, monkeypatch):
    music, home = tmp_path / "Music", tmp_path / "home"
    for i in range(6):
        _write_track(music / f"t{i}.flac", 30 + i)
    monkeypatch.setenv("MUSICTEXT_HOME", str(home))
    mt("index", str(music))
    return music


def _listed(path: Path) -> list[str]:
    return [Path(p).name for p in playlists.read_m3u(path)]


def test_update_adds_drops_and_keeps_the_users_order(changing, tmp_path):
    music = changing
    dest = tmp_path / "lists" / "mine.m3u8"
    dest.parent.mkdir()
    mt("playlist", "soft piano", "-n", "40", "-o", str(dest))
    first = _listed(dest)
    assert sorted(first) == [f"t{i}.flac" for i in range(6)]
    assert dest.read_text(encoding="utf-8").split("\n")[2].startswith("#MUSICTEXT:{")
    # The user moves the last track to the top and takes one out.
    lines = dest.read_text(encoding="utf-8").split("\n")
    header, body = lines[:3], [line for line in lines[3:] if line]
    pairs = [body[i : i + 2] for i in range(0, len(body), 2)]
    pairs = [pairs[-1]] + pairs[:-1]
    taken_out = pairs.pop(2)
    # ... and adds a file musictext never indexed.
    _write_track(tmp_path / "other" / "by hand.flac", 60)
    pairs.append(["#EXTINF:6,by hand", "../other/by hand.flac"])
    dest.write_text("\n".join(header + [x for p in pairs for x in p]) + "\n", encoding="utf-8")
    by_hand = _listed(dest)
    assert by_hand[-1] == "by hand.flac"
    # The library changes: one file goes, one comes.
    gone = by_hand[1]
    (music / gone).unlink()
    _write_track(music / "new one.flac", 50)
    mt("index", str(music))
    dry = mt("playlist", "--update", "mine", "--dry-run")
    assert "would update" in dry.stderr and _listed(dest) == by_hand
    done = mt("playlist", "--update", "mine")
    assert "+1 -1" in done.stderr
    after = _listed(dest)
    stayed = [n for n in by_hand if n != gone]
    assert [n for n in after if n != "new one.flac"] == stayed  # the user's order, less the vanished file
    assert "new one.flac" in after and gone not in after
    assert Path(taken_out[1]).name not in after  # taken out by hand: stays out
    # MPD-style rewrite: the recipe line is lost; the register still knows the playlist.
    dest.write_text("\n".join(line for line in dest.read_text().split("\n") if not line.startswith("#")) + "\n")
    again = mt("playlist", "--update", str(dest))
    assert "+0 -0" in again.stderr and _listed(dest) == after
    assert "#MUSICTEXT:" in dest.read_text(encoding="utf-8")
    # A track added by hand stays while its file does.
    (tmp_path / "other" / "by hand.flac").unlink()
    assert "+0 -1" in mt("playlist", "--update", "mine").stderr
    assert _listed(dest) == [n for n in after if n != "by hand.flac"]


def test_update_refusals(env, tmp_path):
    foreign = tmp_path / "theirs.m3u8"
    foreign.write_text("#EXTM3U\nt0.flac\n", encoding="utf-8")
    got = mt("playlist", "--update", str(foreign), check=False)
    assert got.returncode == 1 and "not made by musictext" in got.stderr and "Traceback" not in got.stderr
    got = mt("playlist", "--update", "nothing like it", check=False)
    assert got.returncode == 1 and "no playlist file or name" in got.stderr
    got = mt("playlist", "--update", "x", "jazz", check=False)
    assert got.returncode == 2


def test_update_of_an_auto_set_keeps_its_files(changing, tmp_path):
    music = changing
    folder = tmp_path / "auto"
    mt("playlist", "--auto", "2", "-o", f"{folder}/")
    before = {p.name: set(_listed(p)) for p in folder.iterdir()}
    assert len(before) == 2
    _write_track(music / "new one.flac", 51)
    mt("index", str(music))
    mt("playlist", "--update", str(next(iter(folder.iterdir()))))  # one member: the whole set follows
    again = mt("playlist", "--update", str(folder))  # the folder: the same set, once
    assert again.stderr.count("updated") == 2 and again.stderr.count("+0 -0") == 2
    after = {p.name: set(_listed(p)) for p in folder.iterdir()}
    assert set(after) == set(before)  # the same files, under the same names
    assert sorted(n for s in after.values() for n in s) == sorted([f"t{i}.flac" for i in range(6)] + ["new one.flac"])
    records = [json.loads(p.read_text().split("#MUSICTEXT:")[1].split("\n")[0]) for p in folder.iterdir()]
    assert len({r["recipe"]["set_id"] for r in records}) == 1 and records[0]["recipe"]["auto"] == 2


def test_merge_places_new_tracks_after_their_neighbour():
    from musictext.library.store import TrackRow

    def row(name):
        return TrackRow(1, f"/m/{name}", 1, 1, name, 1.0, None, None, None, None, None, None)

    fresh = playlists.Playlist("x", [playlists.PlaylistEntry(i, row(n), 0.0) for i, n in enumerate("abcde", 1)])
    merged = playlists.merge(["/m/d", "/m/b", "/m/z"], fresh)
    assert [Path(e.track.path).name for e in merged.playlist.entries] == ["a", "d", "e", "b", "c"]
    assert (merged.added, merged.dropped) == (3, 1)
    # written last time: a, b, d; the file now: d, b (a taken out by hand): a stays out
    again = playlists.merge(["/m/d", "/m/b"], fresh, written=["/m/a", "/m/b", "/m/d"])
    assert [Path(e.track.path).name for e in again.playlist.entries] == ["d", "e", "b", "c"]
    assert again.out_by_hand == ["/m/a"]
    with pytest.raises(MusictextError):
        playlists.resolve_target("mpd", None, True)
