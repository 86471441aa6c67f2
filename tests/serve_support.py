"""Shared by the `musictext serve` tests: a small library written straight into a real store
(real audio files on disk, vectors made from tag probabilities as the default head makes them),
a server process on 127.0.0.1, and small Subsonic and Jellyfin servers speaking their real APIs."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from conftest import SR, tone

# (folder, file, artist, title, album, seconds, MusicBrainz recording id, tag column leaning)
SONGS = [
    ("Calm Trio/Evenings", "01 Slow Chord.wav", "Calm Trio", "Slow Chord", "Evenings", 3.0, None, "mellow"),
    ("Calm Trio/Evenings", "02 Low Hum.flac", "Calm Trio", "Low Hum", "Evenings", 3.0, None, "ambient"),
    ("Noise Unit/Static", "01 Static Burst.flac", "Noise Unit", "Static Burst", "Static", 3.0, None, "noise"),
    (
        "Noise Unit/Static",
        "02 Click Track.wav",
        "Noise Unit",
        "Click Track",
        "Static",
        3.0,
        "0f3b7f2c-1111-4a5b-9c0d-000000000001",
        "electronic",
    ),
    ("Piano Folk/Morning", "01 Bright Keys.wav", "Piano Folk", "Bright Keys", "Morning", 3.0, None, "piano"),
    ("Piano Folk/Morning", "02 Quiet Walk.flac", "Piano Folk", "Quiet Walk", "Morning", 3.0, None, "acoustic"),
    ("Rock Room/Loud", "01 Fast Drums.wav", "Rock Room", "Fast Drums", "Loud", 3.0, None, "rock"),
    ("Rock Room/Loud", "02 Guitar Wall.flac", "Rock Room", "Guitar Wall", "Loud", 3.0, None, "metal"),
]


def write_audio(root: Path) -> list[Path]:
    import soundfile as sf

    paths = []
    for k, (folder, name, *_rest) in enumerate(SONGS):
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone(_rest[3], (110.0 * (1 + k),), seed=k, clicks_per_s=k % 3), SR)
        paths.append(path)
    return paths


def write_store(home: Path, root: Path, songs=SONGS, seed: int = 0) -> None:
    """The songs under ``root`` written into the store of ``home`` with plausible features."""
    os.environ["MUSICTEXT_HOME"] = str(home)
    from musictext.config import db_path
    from musictext.library.index import refresh_derived
    from musictext.library.store import Store
    from musictext.model.bundle import get_bundle
    from musictext.model.textspace import joint_vectors, text_side

    bundle = get_bundle()
    labels = [t["name"].lower() for t in bundle.manifest["tags"]]
    tags = text_side(bundle).tag_embeddings()
    rng = np.random.default_rng(seed)
    home.mkdir(parents=True, exist_ok=True)
    with Store(db_path()) as store:
        with store.batch():
            for folder, name, artist, title, album, seconds, mbid, lean in songs:
                path = root / folder / name
                probs = rng.beta(0.3, 3.0, size=len(labels)).astype(np.float32)
                for i, label in enumerate(labels):
                    if label == lean:
                        probs[i] = 0.97
                tag_values = {"artist": [artist], "title": [title], "album": [album]}
                if mbid:
                    tag_values["musicbrainz_trackid"] = [mbid]
                st = path.stat()
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                tid = store.upsert_track(str(path), st.st_size, st.st_mtime_ns, digest, seconds, tag_values)
                store.put_features(
                    tid,
                    bundle.model_id,
                    {
                        "mode": "whole",
                        "analysed_s": seconds,
                        "probs": probs,
                        "pooled": np.zeros(400, np.float32),
                        "descriptors": {
                            "bpm": float(rng.uniform(60, 180)),
                            "onset_rate": 2.0,
                            "key": 0,
                            "major": 0.5,
                            "loudness": -20.0,
                            "brightness": 1500.0,
                            "percussive": 0.5,
                        },
                    },
                )
                store.put_vector(tid, bundle.model_id, joint_vectors(probs[None], tags)[0])
            store.bump_generation(bundle.model_id)
        refresh_derived(store, bundle)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`musictext serve` in its own process."""

    def __init__(self, home: Path, *args: str, host: str = "127.0.0.1"):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MUSICTEXT_HOME": str(home)}
        self.log = open(home / f"serve-{self.port}.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "musictext", "serve", "--host", host, "--port", str(self.port), *args],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not start: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def call(url: str, method: str = "GET", body=None, headers: dict | None = None, raw: bytes | None = None):
    """(status, headers, parsed JSON or bytes) of one request; 4xx/5xx are answers, not exceptions."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            status, head, payload = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, head, payload = exc.code, dict(exc.headers), exc.read()
    if head.get("content-type", head.get("Content-Type", "")).startswith("application/json"):
        return status, head, json.loads(payload)
    return status, head, payload


# media servers written for the tests ---------------------------------------------------------
class FakeMediaServer:
    """A Subsonic (``/rest/search3``) and Jellyfin (``/Items``) server on 127.0.0.1, with the
    real endpoints' parameters, authentication and JSON shapes."""

    def __init__(self, songs: list[dict], user="alice", password="s3cret pass", api_key="jf-key-0123456789"):
        self.songs, self.user, self.password, self.api_key = songs, user, password, api_key
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                outer.requests.append(url.path)
                if url.path in ("/rest/search3", "/rest/search3.view"):
                    return self._json(outer.subsonic(q))
                if url.path == "/Items":
                    if self.headers.get("X-Emby-Token") != outer.api_key:
                        return self._json({"error": "unauthorised"}, 401)
                    return self._json(outer.jellyfin(q))
                self._json({"error": "not found"}, 404)

            def _json(self, body, status=200):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def subsonic(self, q: dict) -> dict:
        env = {"status": "ok", "version": "1.16.1", "type": "navidrome", "openSubsonic": True}
        expected = hashlib.md5((self.password + q.get("s", "")).encode()).hexdigest()
        if q.get("u") != self.user or q.get("t") != expected or q.get("f") != "json":
            env = {**env, "status": "failed", "error": {"code": 40, "message": "Wrong username or password"}}
            return {"subsonic-response": env}
        offset, count = int(q.get("songOffset", 0)), int(q.get("songCount", 20))
        page = self.songs[offset : offset + count]
        song = [
            {
                "id": s["id"],
                "parent": "p",
                "isDir": False,
                "title": s["title"],
                "album": s["album"],
                "artist": s["artist"],
                "duration": int(s["duration"]),
                "path": s["path"],
                "suffix": "flac",
                "type": "music",
                **({"musicBrainzId": s["mbid"]} if s.get("mbid") else {}),
            }
            for s in page
        ]
        return {"subsonic-response": {**env, "searchResult3": {"song": song} if song else {}}}

    def jellyfin(self, q: dict) -> dict:
        start, limit = int(q.get("StartIndex", 0)), int(q.get("Limit", 100))
        assert q.get("IncludeItemTypes") == "Audio" and q.get("Recursive") == "true"
        page = self.songs[start : start + limit]
        items = [
            {
                "Id": s["id"].replace("-", ""),
                "Name": s["title"],
                "Album": s["album"],
                "Artists": [s["artist"]],
                "AlbumArtist": s["artist"],
                "RunTimeTicks": int(s["duration"] * 1e7),
                "Type": "Audio",
                "Path": s["path"],
                "ProviderIds": {"MusicBrainzTrack": s["mbid"]} if s.get("mbid") else {},
            }
            for s in page
        ]
        return {"Items": items, "TotalRecordCount": len(self.songs), "StartIndex": start}

    def stop(self) -> None:
        self.httpd.shutdown()
