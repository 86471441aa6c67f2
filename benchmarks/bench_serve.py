"""`musictext serve` under load: queries/s and latency with 1, 4 and 16 concurrent clients.

    python benchmarks/bench_serve.py                  # 10k and 100k tracks, writes RESULTS.md
    python benchmarks/bench_serve.py --sizes 10000 --seconds 5

Libraries are synthetic vectors written straight into a store (as bench_index.py's search
benchmark makes them) under $TMPDIR/musictext-bench. The server runs as `musictext serve` on
127.0.0.1 in its own process; the load generator is bounded: N client threads, each with one
keep-alive connection, sending the next request only when the last one was answered, for a fixed
time after a warm-up. Queries rotate through a fixed list (the text tower caches their
embeddings after the first round, as a running server's would), and `similar` by track id.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import machine, table, write_section  # noqa: E402
from bench_index import MT, REPO, WORK  # noqa: E402

QUERIES = [
    "sunny beach day",
    "a slow cello piece",
    "rainy sunday jazz",
    "fast loud guitars",
    "calm piano at night",
    "dance music with strong beat",
    "sad acoustic songs",
    "female vocals, mellow",
    "ambient - vocals",
    "energetic rock + drums",
    "quiet folk",
    "electronic 120 bpm",
]
CLIENTS = (1, 4, 16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, MUSICTEXT_HOME=str(home))
    proc = subprocess.Popen(
        [*MT, "serve", "--port", str(port)], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def load(port: int, paths: list[str], clients: int, seconds: float) -> tuple[int, float, list[float], int]:
    """(answers, wall seconds, latencies, errors) of ``clients`` closed-loop clients for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop_at = time.perf_counter() + seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = k
        while time.perf_counter() < stop_at:
            path = paths[i % len(paths)]
            i += clients
            t0 = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            latencies[k].append(time.perf_counter() - t0)
            if resp.status != 200:
                errors[k] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    flat = [x for row in latencies for x in row]
    return len(flat), wall, flat, sum(errors)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--seconds", type=float, default=15.0, help="load time per row")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    a = ap.parse_args()
    rows = []
    for n in a.sizes:
        home = WORK / f"serve-{n}"
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / "bench_index.py"), "_build", str(home), str(n)],
            check=True,
            cwd=REPO,
        )
        proc, port = start_server(home)
        try:
            kinds = {
                "search": [f"/api/v1/search?n=20&explain=0&q={urllib.parse.quote(q)}" for q in QUERIES],
                "similar": [f"/api/v1/similar?n=20&id={i}" for i in range(1, 200, 7)],
            }
            for kind, paths in kinds.items():
                load(port, paths, 1, 3.0)  # warm: library opened, query embeddings cached
                for clients in CLIENTS:
                    count, wall, lat, errors = load(port, paths, clients, a.seconds)
                    assert errors == 0, f"{errors} failed requests"
                    rows.append(
                        [
                            f"{n:,}",
                            kind,
                            clients,
                            count,
                            count / wall,
                            1000 * statistics.median(lat),
                            1000 * pct(lat, 0.99),
                        ]
                    )
                    print(rows[-1], flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    body = (
        "### `musictext serve` under load\n\n"
        f"Command: `python benchmarks/bench_serve.py --seconds {a.seconds:g}`. {machine()}.\n\n"
        "Closed-loop clients on 127.0.0.1 (each sends its next request when the last is answered, "
        f"{a.seconds:g} s per row after a warm-up); synthetic libraries; `search` rotates through "
        f"{len(QUERIES)} queries, `similar` through track ids; every answer was a 200. One worker thread owns the "
        "warm library, so requests queue for it: more clients raise latency, not throughput.\n\n"
        + table(["tracks", "request", "clients", "answers", "queries/s", "p50 ms", "p99 ms"], rows)
    )
    print(body)
    if not a.no_write:
        write_section("serve-load", body)


if __name__ == "__main__":
    main()
