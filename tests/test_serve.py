"""`musictext serve`: the JSON API, streaming, safety, the warm library, and the media-server bridges,
against a real server process on 127.0.0.1 (the page in a browser: test_serve_page.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import make_library
from serve_support import SONGS, FakeMediaServer, Server, call, write_audio, write_store


def _ids(server) -> dict[str, int]:
    status, _, body = call(f"{server.base}/api/v1/search?q=music&n=50&explain=0")
    assert status == 200
    return {r["title"]: r["id"] for r in body["results"]}


def test_search_answers_as_the_cli_does(served_library):
    server, home, _, _ = served_library
    status, _, body = call(f"{server.base}/api/v1/search?q=piano&n=3")
    assert status == 200
    assert len(body["results"]) == 3 and body["total"] == len(SONGS)
    first = body["results"][0]
    assert set(first) >= {"id", "title", "artist", "duration", "score", "why", "rank"}
    assert any(w["concept"] == "piano" for w in first["why"])
    # the same service function as `musictext search`: the same tracks, in the same order
    env = {**os.environ, "MUSICTEXT_HOME": str(home)}
    cli = subprocess.run(
        [sys.executable, "-m", "musictext", "search", "piano", "-n", "3", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    assert [json.loads(line)["path"] for line in cli.stdout.splitlines()] == [r["path"] for r in body["results"]]


def test_similar_walk_tags_status_concepts(served_library):
    server, *_ = served_library
    ids = _ids(server)
    status, _, body = call(f"{server.base}/api/v1/similar?id={ids['Slow Chord']}&n=3")
    assert status == 200 and body["seed_track"]["title"] == "Slow Chord"
    assert ids["Slow Chord"] not in [r["id"] for r in body["results"]] and len(body["results"]) == 3
    status, _, walk = call(f"{server.base}/api/v1/walk?from={ids['Slow Chord']}&to={ids['Guitar Wall']}&n=5")
    assert status == 200
    titles = [t["title"] for t in walk["tracks"]]
    assert titles[0] == "Slow Chord" and titles[-1] == "Guitar Wall" and len(titles) == 5
    status, _, tags = call(f"{server.base}/api/v1/tags?vocab=genres&id={ids['Fast Drums']}&top=2")
    assert status == 200 and len(tags["tracks"]) == 1 and 0 <= len(tags["tracks"][0]["tags"]) <= 2  # a cap
    assert all(t["score"] >= 0.5 for t in tags["tracks"][0]["tags"]) and not tags["relative"]
    status, _, rel = call(f"{server.base}/api/v1/tags?vocab=genres&id={ids['Fast Drums']}&top=2&relative=1")
    assert status == 200 and rel["relative"] and len(rel["tracks"][0]["tags"]) == 2  # the old quota
    assert all(0.0 <= s <= 1.0 for s in tags["tracks"][0]["scores"].values())
    status, _, st = call(f"{server.base}/api/v1/status")
    assert status == 200 and st["tracks"] == len(SONGS)
    status, _, concepts = call(f"{server.base}/api/v1/concepts")
    assert status == 200 and any(c["name"] == "piano" for c in concepts["concepts"])
    status, _, spec = call(f"{server.base}/api/v1/openapi.json")
    assert status == 200 and "/api/v1/search" in spec["paths"]
    status, head, page = call(f"{server.base}/api/v1/docs")
    assert status == 200 and b"openapi.json" in page


def test_audio_streams_with_range(served_library):
    server, _, root, _ = served_library
    tid = _ids(server)["Low Hum"]
    data = (root / SONGS[1][0] / SONGS[1][1]).read_bytes()
    status, head, whole = call(f"{server.base}/api/v1/tracks/{tid}/audio")
    assert status == 200 and whole == data and head["content-type"] == "audio/flac"
    status, head, part = call(f"{server.base}/api/v1/tracks/{tid}/audio", headers={"Range": "bytes=100-199"})
    assert status == 206 and part == data[100:200]
    assert head["content-range"] == f"bytes 100-199/{len(data)}"
    status, _, err = call(f"{server.base}/api/v1/tracks/999999/audio")
    assert status == 404 and err["error"]["code"] == 3


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tracks/..%2f..%2fetc%2fpasswd/audio",
        "/api/v1/tracks/../../../etc/passwd",
        "/api/v1/tracks/%2e%2e/audio",
        "/api/v1/tracks/-1/audio",
        "/api/v1/similar?path=/etc/passwd",
    ],
)
def test_no_path_traversal(served_library, path):
    server, *_ = served_library
    status, _, body = call(server.base + path)
    assert status in (400, 404) and isinstance(body, dict) and "error" in body
    assert b"root:" not in str(body).encode()


def test_playlist_saves_only_into_its_folder(served_library):
    server, _, _, folder = served_library
    ids = _ids(server)
    for name, expect in [
        ("../../escape", "escape.m3u8"),
        ("/etc/cron.d/x", "etc cron.d x.m3u8"),
        ("..", "playlist.m3u8"),
    ]:
        status, _, body = call(f"{server.base}/api/v1/playlist", "POST", {"words": "calm", "n": 3, "save": name})
        assert status == 201, body
        assert Path(body["file"]).parent == folder.resolve() and Path(body["file"]).name == expect
    status, _, body = call(f"{server.base}/api/v1/playlist", "POST", {"words": "calm", "save": "bad\x1bname"})
    assert status == 400
    status, _, body = call(f"{server.base}/api/v1/playlist", "POST", {"words": "calm", "n": 3, "save": "../../escape"})
    assert status == 409  # no overwrite unless asked
    status, _, body = call(
        f"{server.base}/api/v1/playlist",
        "POST",
        {"seeds": [ids["Bright Keys"]], "n": 2, "save": "keys", "overwrite": True},
    )
    assert status == 201 and len(body["tracks"]) == 2
    text = Path(body["file"]).read_text()
    assert text.startswith("#EXTM3U") and "Bright Keys" not in [t["title"] for t in body["tracks"]]
    names = {p.name for p in folder.iterdir()}
    assert {"escape.m3u8", "etc cron.d x.m3u8", "playlist.m3u8", "keys.m3u8"} <= names
    assert all(p.is_file() and p.suffix == ".m3u8" for p in folder.iterdir())
    assert not (folder.parent.parent / "escape.m3u8").exists()


@pytest.mark.parametrize(
    "method,path,body,status",
    [
        ("GET", "/api/v1/search?q=rock&n=100000", None, 400),
        ("GET", "/api/v1/search?q=rock&n=abc", None, 400),
        ("GET", "/api/v1/search?q=", None, 400),
        ("GET", "/api/v1/search?q=rock&where=year%3E%3Dabc", None, 400),
        ("GET", "/api/v1/search?q=rock&where=nonsense%3F%3F", None, 400),
        ("GET", "/api/v1/similar?id=123456789", None, 404),
        ("GET", "/api/v1/walk?from=1&to=1", None, 400),
        ("GET", "/api/v1/tags?vocab=/etc/passwd", None, 400),
        ("POST", "/api/v1/playlist", "not json", 400),
        ("POST", "/api/v1/playlist", {"words": "x", "diversity": 7}, 400),
        ("POST", "/api/v1/playlist", {"words": "x", "duration": "forever"}, 400),
        ("GET", "/api/v1/nothing-here", None, 404),
    ],
)
def test_bad_requests_get_json_errors(served_library, method, path, body, status):
    server, *_ = served_library
    raw = body.encode() if isinstance(body, str) else None
    got, _, answer = call(server.base + path, method, None if raw else body, raw=raw)
    assert got == status, answer
    assert set(answer["error"]) == {"message", "code", "type"} and "Traceback" not in answer["error"]["message"]


def test_oversized_input_is_refused(served_library):
    server, *_ = served_library
    huge = "a" * (1 << 20)
    status, _, body = call(f"{server.base}/api/v1/search?q={huge}")
    assert status == 414 and "too long" in body["error"]["message"]
    status, _, body = call(f"{server.base}/api/v1/playlist", "POST", {"words": huge})
    assert status == 413
    status, _, body = call(f"{server.base}/api/v1/search?q={'b' * 5000}")
    assert status == 413 and "too long" in body["error"]["message"]
    status, _, body = call(f"{server.base}/api/clap/search", "POST", {"query": "c" * 5000, "limit": 3})
    assert status == 413 and isinstance(body["error"], str)


def test_other_hosts_are_refused_on_loopback(served_library):
    server, *_ = served_library
    status, _, body = call(f"{server.base}/api/v1/status", headers={"Host": "attacker.example:8765"})
    assert status == 403


def test_audiomuse_endpoints(served_library):
    server, *_ = served_library
    ids = _ids(server)
    status, _, rows = call(f"{server.base}/api/similar_tracks?item_id={ids['Fast Drums']}&n=3")
    assert status == 200 and len(rows) == 3
    assert set(rows[0]) == {"item_id", "title", "author", "album", "distance"} and isinstance(rows[0]["item_id"], str)
    assert [r["distance"] for r in rows] == sorted(r["distance"] for r in rows)
    status, _, path = call(
        f"{server.base}/api/find_path?start_song_id={ids['Slow Chord']}&end_song_id={ids['Guitar Wall']}&max_steps=3"
    )
    assert status == 200 and path["path"][0]["item_id"] == str(ids["Slow Chord"])
    assert path["path"][-1]["item_id"] == str(ids["Guitar Wall"]) and len(path["path"]) == 5
    assert path["total_distance"] > 0
    status, _, found = call(f"{server.base}/api/clap/search", "POST", {"query": "rock music", "limit": 2})
    assert status == 200 and found["count"] == 2 and found["query"] == "rock music"
    assert set(found["results"][0]) >= {"item_id", "title", "author", "similarity"}
    status, _, err = call(f"{server.base}/api/similar_tracks?item_id=nope&n=3")
    assert status == 404 and isinstance(err["error"], str)


def test_opensubsonic_sonic_similarity(served_library):
    server, *_ = served_library
    ids = _ids(server)
    status, _, body = call(f"{server.base}/rest/getSonicSimilarTracks.view?id={ids['Low Hum']}&count=4&f=json")
    answer = body["subsonic-response"]
    assert status == 200 and answer["status"] == "ok" and len(answer["sonicMatch"]) == 4
    assert all(0.0 <= m["similarity"] <= 1.0 and m["entry"]["id"] != str(ids["Low Hum"]) for m in answer["sonicMatch"])
    status, _, body = call(
        f"{server.base}/rest/findSonicPath?startSongId={ids['Low Hum']}&endSongId={ids['Fast Drums']}&count=4"
    )
    path = body["subsonic-response"]["sonicMatch"]
    assert [path[0]["entry"]["title"], path[-1]["entry"]["title"]] == ["Low Hum", "Fast Drums"] and len(path) == 4
    _, _, body = call(f"{server.base}/rest/getSonicSimilarTracks?id=424242")
    assert body["subsonic-response"]["status"] == "failed" and body["subsonic-response"]["error"]["code"] == 70
    _, _, body = call(f"{server.base}/rest/getOpenSubsonicExtensions")
    names = [e["name"] for e in body["subsonic-response"]["openSubsonicExtensions"]]
    assert "sonicSimilarity" in names


def test_other_binds_need_a_token(tmp_path, served_library):
    _, home, _, _ = served_library
    env = {**os.environ, "MUSICTEXT_HOME": str(home)}
    refused = subprocess.run(
        [sys.executable, "-m", "musictext", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "--token-file" in refused.stderr and "Traceback" not in refused.stderr


def _server_songs(root: Path) -> list[dict]:
    """The library as a media server lists it: a different music folder (matched by path suffix),
    one song at a path the library does not share (matched by MBID), one retagged path (matched
    by artist, title and duration), and one song the library does not have."""
    songs = []
    for k, (folder, name, artist, title, album, seconds, mbid, _) in enumerate(SONGS):
        path = f"/srv/media/music/{folder}/{name}"
        if mbid:
            path = "/srv/media/music/elsewhere/track.flac"
        if k == 0:
            path = f"/srv/media/other/{name.replace(' ', '_')}"
        songs.append(
            {
                "id": f"tr-{k:04d}",
                "title": title,
                "artist": artist,
                "album": album,
                "duration": seconds,
                "path": path,
                "mbid": mbid,
            }
        )
    songs.append(
        {
            "id": "tr-9999",
            "title": "Not Here",
            "artist": "Nobody",
            "album": "X",
            "duration": 200.0,
            "path": "/srv/media/music/Nobody/X/01 Not Here.flac",
            "mbid": None,
        }
    )
    return songs


@pytest.fixture(scope="module")
def media_servers(served_library, tmp_path_factory):
    _, home, root, _ = served_library
    fake = FakeMediaServer(_server_songs(root))
    secrets = tmp_path_factory.mktemp("secrets")
    (secrets / "password").write_text(fake.password + "\n")
    (secrets / "apikey").write_text(fake.api_key + "\n")
    (secrets / "token").write_text("t0ken-for-the-tests-0123456789\n")
    token = "t0ken-for-the-tests-0123456789"
    subsonic = Server(
        home,
        "--subsonic",
        fake.url,
        "--user",
        fake.user,
        "--password-file",
        str(secrets / "password"),
        "--token-file",
        str(secrets / "token"),
        host="0.0.0.0",
    )
    jellyfin = Server(home, "--jellyfin", fake.url, "--api-key-file", str(secrets / "apikey"))
    yield fake, subsonic, jellyfin, token
    subsonic.stop()
    jellyfin.stop()
    fake.stop()


def test_token_required_off_loopback(media_servers):
    _, server, _, token = media_servers
    assert call(f"{server.base}/api/v1/status")[0] == 401
    assert call(f"{server.base}/api/v1/status", headers={"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
    assert call(f"{server.base}/api/v1/status", headers={"Authorization": f"Bearer {token}x"})[0] == 401
    assert call(f"{server.base}/api/similar_tracks?item_id=tr-0001")[0] == 401
    assert call(f"{server.base}/api/v1/status", headers={"Authorization": f"Bearer {token}"})[0] == 200
    assert call(f"{server.base}/rest/ping?apiKey={token}")[0] == 200  # OpenSubsonic apiKey
    assert call(f"{server.base}/api/v1/status?apiKey={token}")[0] == 401  # only for /rest/

    # the page: opened once with ?token=, it keeps a cookie (the audio element sends no headers)
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{server.base}/?token={token}&q=rock", timeout=60)
        raise AssertionError("no redirect")
    except urllib.error.HTTPError as exc:
        assert exc.code == 303 and exc.headers["Location"] == "/?q=rock"
        set_cookie = exc.headers["Set-Cookie"]
    cookie = set_cookie.split(";", 1)[0]
    assert "httponly" in set_cookie.lower()
    assert call(f"{server.base}/api/v1/status", headers={"Cookie": cookie})[0] == 200
    assert call(f"{server.base}/api/v1/status", headers={"Cookie": "musictext_token=nope"})[0] == 401
    assert call(f"{server.base}/?token=wrong")[0] == 401


def test_subsonic_ids_are_mapped(media_servers):
    fake, server, _, token = media_servers
    auth = {"Authorization": f"Bearer {token}"}
    assert "matched 8 of 9 songs" in server.output() and "(6 by path, 1 by MusicBrainz id, 1 by tags" in server.output()
    status, _, st = call(f"{server.base}/api/v1/status", headers=auth)
    assert st["media_server"]["matched"] == 8 and st["media_server"]["songs"] == 9
    status, _, rows = call(f"{server.base}/api/similar_tracks?item_id=tr-0003&n=3", headers=auth)
    assert status == 200 and len(rows) == 3 and all(r["item_id"].startswith("tr-") for r in rows)
    assert "tr-0003" not in [r["item_id"] for r in rows] and "tr-9999" not in [r["item_id"] for r in rows]
    _, _, body = call(f"{server.base}/rest/getSonicSimilarTracks?id=tr-0000&count=2", headers=auth)
    assert all(m["entry"]["id"].startswith("tr-") for m in body["subsonic-response"]["sonicMatch"])
    _, _, body = call(f"{server.base}/rest/findSonicPath?startSongId=tr-0000&endSongId=tr-0007&count=4", headers=auth)
    path = [m["entry"]["id"] for m in body["subsonic-response"]["sonicMatch"]]
    assert path[0] == "tr-0000" and path[-1] == "tr-0007"
    status, _, err = call(f"{server.base}/api/similar_tracks?item_id=tr-9999", headers=auth)
    assert status == 404


def test_jellyfin_ids_are_mapped(media_servers):
    fake, _, server, _ = media_servers
    assert "jellyfin: matched 8 of 9 songs" in server.output()
    status, _, found = call(f"{server.base}/api/clap/search", "POST", {"query": "piano", "limit": 3})
    assert status == 200 and all(r["item_id"].startswith("tr") and "-" not in r["item_id"] for r in found["results"])
    status, _, path = call(f"{server.base}/api/find_path?start_song_id=tr0001&end_song_id=tr0006&max_steps=2")
    assert status == 200 and [path["path"][0]["item_id"], path["path"][-1]["item_id"]] == ["tr0001", "tr0006"]


def test_warm_library_follows_index_runs_and_rebuilt_store(tmp_path):
    """Queries keep answering while `musictext index` writes to the store; the server picks up the
    new tracks when it finishes, and survives the store being deleted and rebuilt under it."""
    home, root = tmp_path / "home", tmp_path / "Music"
    write_audio(root)
    before = os.environ.get("MUSICTEXT_HOME")
    write_store(home, root, SONGS[:4])
    server = Server(home)
    try:
        assert call(f"{server.base}/api/v1/search?q=rock&n=50")[2]["total"] == 4
        extra = make_library(tmp_path / "more")
        env = {**os.environ, "MUSICTEXT_HOME": str(home)}
        index = subprocess.Popen(
            [sys.executable, "-m", "musictext", "index", str(extra)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        answers: list[int] = []

        def ask():
            while index.poll() is None:
                answers.append(call(f"{server.base}/api/v1/search?q=calm+piano&n=3")[0])

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert index.wait() == 0, index.stderr.read()
        assert answers and set(answers) == {200}
        status, _, body = call(f"{server.base}/api/v1/search?q=rock&n=50")
        assert status == 200 and body["total"] == 4 + 6  # the index run's tracks, without a restart
        # the store rebuilt from scratch under the running server
        for p in home.iterdir():
            if p.name.startswith("library.sqlite3") or p.name == "index":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        status, _, body = call(f"{server.base}/api/v1/search?q=rock")
        assert status == 404 and "run `musictext index" in body["error"]["message"]
        write_store(home, root, SONGS[4:], seed=1)
        status, _, body = call(f"{server.base}/api/v1/search?q=rock&n=50")
        assert status == 200 and sorted(r["title"] for r in body["results"]) == sorted(s[3] for s in SONGS[4:])
        tid = body["results"][0]["id"]
        assert call(f"{server.base}/api/v1/tracks/{tid}/audio")[0] == 200
    finally:
        server.stop()
        if before is None:
            os.environ.pop("MUSICTEXT_HOME", None)
        else:
            os.environ["MUSICTEXT_HOME"] = before


def test_concurrent_clients(served_library):
    server, *_ = served_library
    results: list[int] = []

    def ask(k):
        for q in ("rock", "calm+piano", "noise", "bright"):
            results.append(call(f"{server.base}/api/v1/search?q={q}+{k}&n=5")[0])

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 32, (results, time.monotonic() - t0)
