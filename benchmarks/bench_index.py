"""Indexing and search speed and memory, measured side by side in one run.

    python benchmarks/bench_index.py all          # everything below, in order
    python benchmarks/bench_index.py whole        # --full indexing vs the TensorFlow musicnn reference
    python benchmarks/bench_index.py sampled      # tracks/hour for 4-minute MP3s, per window budget
    python benchmarks/bench_index.py long         # peak memory indexing one 60-minute MP3
    python benchmarks/bench_index.py search       # cold `musictext search` at 10k and 100k tracks
    python benchmarks/bench_index.py inprocess    # query time at 1M vectors, in process

Audio is generated (numpy, encoded to MP3 with PyAV) under $TMPDIR/musictext-bench; large
libraries for search are synthetic vectors written straight into a store. The TensorFlow
reference runs musicnn's own way (librosa.load at 16 kHz, both nets, batches of 16) in the
conversion venv (--tf-python; skipped when there is none).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, random_features, table, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("TMPDIR", "/tmp")) / "musictext-bench"
MT = [sys.executable, "-m", "musictext"]


def synth_music(seconds: float, seed: int, sr: int = 44100) -> np.ndarray:
    """Stereo music-like audio: chords changing every 2 s, a bass line, and drums."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = np.zeros(n, np.float32)
    bar = 2 * sr
    for start in range(0, n, bar):
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        seg = slice(start, min(n, start + bar))
        for ratio in (1, 1.25, 1.5, 2):
            y[seg] += 0.12 * np.sin(2 * np.pi * root * ratio * t[seg]) * np.exp(-(t[seg] - t[start]) * 0.7)
    beat = int(sr * 60 / rng.integers(70, 160))
    for start in range(0, n - 4000, beat):
        y[start : start + 4000] += rng.normal(0, 0.25, 4000).astype(np.float32) * np.exp(-np.arange(4000) / 500)
    y /= max(1e-9, np.abs(y).max() / 0.8)
    return np.stack([y, 0.9 * y], axis=1)


def write_mp3(path: Path, audio: np.ndarray, sr: int = 44100, bitrate: int = 192000) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=sr)
        stream.bit_rate = bitrate
        stream.layout = "stereo"
        block = 1152 * 8
        for i in range(0, len(audio), block):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(audio[i : i + block].T, np.float32), format="fltp", layout="stereo"
            )
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def mp3_library(name: str, count: int, seconds: float) -> Path:
    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"track{i:03d}.mp3"
        if not path.exists():
            write_mp3(path, synth_music(seconds, seed=i))
    return folder


def run_timed(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS MiB, stdout) of a command, via /usr/bin/time. Bytecode is cached as
    for an installed package: with PYTHONDONTWRITEBYTECODE (set on some machines) every run would
    compile musictext's modules again (~60 ms), which no user pays."""
    env = dict(env or os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    _compile_once()
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS %M", *cmd],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rss = int(proc.stderr.rsplit("MAXRSS", 1)[1].split()[0]) // 1024
    return wall, rss, proc.stdout


_compiled: list[bool] = []


def _compile_once() -> None:
    if not _compiled:
        import compileall

        compileall.compile_dir(REPO / "musictext", quiet=1)
        _compiled.append(True)


def fresh_home() -> dict:
    return dict(os.environ, MUSICTEXT_HOME=tempfile.mkdtemp(prefix="mt-bench-home-"))


# whole-track vs TensorFlow ---------------------------------------------------------------------
TF_SCRIPT = r"""
import json, sys, time, os
sys.path.insert(0, sys.argv[1])
import numpy as np, librosa
import convert_musicnn as c
from pathlib import Path
work = Path(sys.argv[2]); files = sys.argv[3:]
_, extract = c.fetch_wheel(work)
c.import_musicnn(extract)
nets = {n: c.TFMusicnn(extract, c.CKPT[n], threads=2) for n in c.NETS}
t0 = time.perf_counter(); audio_s = 0.0
for f in files:
    y, sr = librosa.load(f, sr=16000)  # musicnn's extractor: librosa load, mono, 16 kHz
    audio_s += len(y) / 16000
    mel = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    mel = np.log10(10000 * mel.astype(np.float32) + 1)  # float32: musicnn's float16 overflows on NumPy 2
    n = len(mel) // 187
    batch = mel[: n * 187].reshape(n, 187, 96)
    for m in nets.values():
        for i in range(0, n, 16):
            m.sess.run([m.logits, m.penultimate], feed_dict={m.x: batch[i:i+16], m.is_training: False})
print(json.dumps({"wall": time.perf_counter() - t0, "audio_s": audio_s}))
"""


def bench_whole(tf_python: str | None) -> str:
    lib = mp3_library("whole", 6, 240)
    files = sorted(str(p) for p in lib.glob("*.mp3"))
    audio_s = 6 * 240.0
    wall, rss, out = run_timed([*MT, "index", str(lib), "--full", "--json", "-q"], fresh_home())
    report = json.loads(out.strip().splitlines()[-1])
    rows = [["musictext index --full (whole command, start-up included)", wall, audio_s / wall, rss]]
    if tf_python:
        script = WORK / "tf_reference.py"
        script.write_text(TF_SCRIPT)
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
        t_wall, t_rss, t_out = run_timed(
            [tf_python, str(script), str(REPO / "models"), str(WORK / "convert"), *files], env
        )
        tf = json.loads(t_out.strip().splitlines()[-1])
        rows.append(
            [
                "TensorFlow musicnn reference (decode + mel + both nets; import and graph build excluded)",
                tf["wall"],
                tf["audio_s"] / tf["wall"],
                t_rss,
            ]
        )
        rows.append(["TensorFlow musicnn reference (whole process)", t_wall, tf["audio_s"] / t_wall, t_rss])
    ratio = (
        f"\n\nmusictext whole-track speed / TF reference (processing only): **{rows[0][2] / rows[1][2]:.2f}x**"
        if tf_python
        else ""
    )
    return (
        "### Whole-track indexing vs the TensorFlow reference\n\n"
        f"6 generated 4-minute 192 kb/s stereo MP3s ({audio_s / 60:.0f} min of audio); "
        f"musictext indexed {report['indexed']} files.\n\n"
        + table(["pipeline", "wall s", "x real time", "peak RSS MiB"], rows)
        + ratio
    )


# sampled mode ------------------------------------------------------------------------------------
def bench_sampled(budgets: list[int], rounds: int = 5) -> str:
    """Whole-command throughput on 48 tracks, and the steady-state rate: the extra 24 tracks of a
    48-track run over a 24-track run, which cancels start-up and model loading. The steady rate is
    a difference of two walls, so one round swings by 20% or more on this machine: ``rounds``
    rounds (the two libraries alternating), medians reported with the steady rate's range."""
    big = mp3_library("sampled", 48, 240)
    small = WORK / "sampled-24"
    small.mkdir(exist_ok=True)
    for p in sorted(big.glob("*.mp3"))[:24]:
        if not (small / p.name).exists():
            os.link(p, small / p.name)
    rows = []
    for budget in budgets:
        args = ["--full"] if budget == 0 else ["--windows", str(budget)]
        walls, steady, rss_all, n = [], [], [], 0
        for _ in range(rounds):
            got = {}
            for lib in (small, big):
                wall, rss, out = run_timed([*MT, "index", str(lib), *args, "--json", "-q"], fresh_home())
                got[lib] = (wall, rss, json.loads(out.strip().splitlines()[-1])["indexed"])
            wall, rss, n = got[big]
            walls.append(wall)
            rss_all.append(rss)
            steady.append(24 / max(1e-6, wall - got[small][0]) * 3600)
        wall = float(np.median(walls))
        rows.append(
            [
                "whole" if budget == 0 else budget,
                n,
                rounds,
                wall,
                n / wall * 3600,
                float(np.median(steady)),
                f"{min(steady):,.0f} - {max(steady):,.0f}",
                max(rss_all),
            ]
        )
    return (
        "### Sampled mode: 4-minute MP3 tracks per hour (2 cores)\n\n"
        "Generated 4-minute 192 kb/s stereo MP3s, a fresh library each run. `tracks/hour` times the whole "
        "command on 48 tracks (start-up, model loading and pool start included); `steady tracks/hour` is "
        "24 / (wall of 48 tracks - wall of the first 24), what a large library sees. Medians of the rounds "
        "(each round indexes the 24- and the 48-track library); the steady rate's range beside it.\n\n"
        + table(
            [
                "windows per track",
                "tracks",
                "rounds",
                "wall s",
                "tracks/hour (whole command)",
                "steady tracks/hour",
                "steady range",
                "peak RSS MiB",
            ],
            rows,
        )
    )


# one long file -----------------------------------------------------------------------------------
def bench_long() -> str:
    lib = WORK / "long"
    lib.mkdir(parents=True, exist_ok=True)
    path = lib / "sixty-minutes.mp3"
    if not path.exists():
        write_mp3(path, np.concatenate([synth_music(300, seed=s) for s in range(12)]))
    short = WORK / "long-4min"
    short.mkdir(exist_ok=True)
    if not (short / "four-minutes.mp3").exists():
        os.link(mp3_library("whole", 6, 240) / "track000.mp3", short / "four-minutes.mp3")
    rows = []
    for label, folder, seconds, args in (
        ("60 min, whole (--full)", lib, 3600, ["--full"]),
        ("4 min, whole (--full)", short, 240, ["--full"]),
        ("60 min, sampled (8 windows)", lib, 3600, []),
    ):
        wall, rss, _ = run_timed([*MT, "index", str(folder), *args, "--json", "-q", "-j", "1"], fresh_home())
        rows.append([label, wall, seconds / wall, rss])
    base_wall, base_rss, _ = run_timed(
        [sys.executable, "-c", "import musictext.library.index, musictext.audio.decode, librosa, onnxruntime"]
    )
    rows.append(["baseline: importing the libraries only", base_wall, "", base_rss])
    return (
        "### One 60-minute MP3 (streaming decode)\n\n"
        "Peak memory does not grow with the track's length: whole-track analysis streams decoded blocks and "
        "patches through the tower and keeps running sums (compare the 4-minute file). The rest is the "
        "runtime itself: ONNX sessions, the text tower loaded to embed tag names, librosa's compiled kernels.\n\n"
        + table(["file and mode", "wall s", "x real time", "peak RSS MiB"], rows)
    )


# cold search at scale ----------------------------------------------------------------------------
def synthetic_library(home: Path, n: int) -> None:
    """n tracks with plausible features written straight into a store, then the derived indexes."""
    os.environ["MUSICTEXT_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    from musictext.config import db_path
    from musictext.library.index import refresh_derived
    from musictext.library.store import Store
    from musictext.model.bundle import get_bundle
    from musictext.model.textspace import joint_vectors, text_side

    bundle = get_bundle()
    tags = text_side(bundle).tag_embeddings()
    rng = np.random.default_rng(0)
    with Store(db_path()) as store:
        if store.count_tracks() >= n:
            return
        with store.batch():
            for start in range(0, n, 5000):
                k = min(5000, n - start)
                probs = rng.beta(0.3, 2.0, size=(k, 100)).astype(np.float32)
                joint = joint_vectors(probs, tags)
                for i in range(k):
                    tid = store.upsert_track(
                        f"/music/artist{(start + i) % 997}/track{start + i}.mp3",
                        5_000_000,
                        0,
                        f"h{start + i}",
                        240.0,
                        {"artist": [f"Artist {(start + i) % 997}"]},
                    )
                    store.put_features(
                        tid,
                        bundle.model_id,
                        random_features(rng, probs[i]),
                    )
                    store.put_vector(tid, bundle.model_id, joint[i])
            store.bump_generation(bundle.model_id)
        refresh_derived(store, bundle)


def bench_search(sizes: list[int]) -> str:
    rows = []
    for n in sizes:
        home = WORK / f"search-{n}"
        subprocess.run([sys.executable, __file__, "_build", str(home), str(n)], check=True, cwd=REPO)
        env = dict(os.environ, MUSICTEXT_HOME=str(home))
        for query in ("a slow cello piece", "sunny beach day"):
            run_timed([*MT, "search", query, "-n", "20", "--json"], env)  # warm the OS file cache and text cache
            walls, rsss = [], []
            for _ in range(7):
                wall, rss, out = run_timed([*MT, "search", query, "-n", "20", "--json"], env)
                walls.append(wall)
                rsss.append(rss)
            assert out.count("\n") == 20
            rows.append([f"{n:,}", query, statistics.median(walls), min(walls), max(rsss)])
        nonce = time.time_ns()  # words this library's text cache has never seen, run after run
        fresh = [
            run_timed([*MT, "search", f"calm {w} music {nonce}", "-n", "20", "--json"], env)
            for w in ("harbour", "meadow", "lantern", "orchard", "glacier", "velvet", "comet")
        ]
        rows.append(
            [
                f"{n:,}",
                "a never-seen query each run (text tower loaded)",
                statistics.median(f[0] for f in fresh),
                min(f[0] for f in fresh),
                max(f[1] for f in fresh),
            ]
        )
        walls = [
            run_timed([*MT, "similar", "/music/artist1/track1.mp3", "-n", "20", "--json"], env)[0] for _ in range(5)
        ]
        rows.append([f"{n:,}", "similar (exact scan below 250k tracks)", statistics.median(walls), min(walls), ""])
    start = [run_timed([*MT, "--help"])[0] for _ in range(5)]
    rows.append(["-", "`musictext --help` (start-up alone)", statistics.median(start), min(start), ""])
    return (
        "### Cold `musictext search` (a new process each time)\n\n"
        "Synthetic libraries (random tag probabilities, real joint vectors); 7 runs after one warm-up, "
        "so the OS file cache is warm but every run starts Python and maps the library anew. Text "
        "embeddings are cached in the data folder after first use, so a repeated query does not load the "
        "text tower; the never-seen rows pay for loading it.\n\n"
        + table(["tracks", "query", "median s", "best s", "peak RSS MiB"], rows)
    )


def bench_cold_parts(n: int) -> str:
    """Where a cold ``musictext search`` at ``n`` tracks spends its time: each row a fresh process,
    runs interleaved (so load drifts hit every row alike), medians of 9."""
    home = WORK / f"search-{n}"
    subprocess.run([sys.executable, __file__, "_build", str(home), str(n)], check=True, cwd=REPO)
    env = dict(os.environ, MUSICTEXT_HOME=str(home))
    py = sys.executable
    query = [*MT, "search", "a slow cello piece", "-n", "20", "--json"]
    run_timed(query, env)  # the query's embedding is cached from here on
    steps = [
        ("Python starts (`python -c pass`)", [py, "-c", "pass"]),
        ("+ `import numpy`", [py, "-c", "import numpy"]),
        ("+ `import typer`", [py, "-c", "import typer"]),
        ("floor: `import numpy, typer`", [py, "-c", "import numpy, typer"]),
        ("+ the CLI (`import musictext.cli.app`)", [py, "-c", "import musictext.cli.app"]),
        (
            "+ everything search imports",
            [py, "-c", "import musictext.cli.app, musictext.search, musictext.lexicon, musictext.model.textspace"],
        ),
        ("`musictext --help`", [*MT, "--help"]),
        ("`musictext search` (a repeated query)", query),
        (
            "the same, with the interpreter's tear-down (`main()`, then a normal exit)",
            [
                py,
                "-c",
                f"import sys; sys.argv = {['musictext', *query[3:]]!r}; from musictext.cli.app import main; main()",
            ],
        ),
    ]
    walls: dict[str, list[float]] = {label: [] for label, _ in steps}
    fresh: list[float] = []
    nonce = time.time_ns()
    for i in range(9):
        for label, cmd in steps:
            walls[label].append(run_timed(cmd, env)[0])
        fresh.append(run_timed([*MT, "search", f"calm lantern {i} {nonce}", "-n", "20", "--json"], env)[0])
    base = {  # the row each row builds on
        "+ `import numpy`": steps[0][0],
        "+ `import typer`": steps[0][0],
        "floor: `import numpy, typer`": steps[0][0],
        "+ the CLI (`import musictext.cli.app`)": steps[2][0],
        "+ everything search imports": steps[3][0],
        "`musictext --help`": steps[4][0],
        "`musictext search` (a repeated query)": steps[5][0],
        steps[8][0]: steps[7][0],
    }
    med = {label: statistics.median(v) for label, v in walls.items()}
    rows = [
        [
            label,
            med[label],
            min(walls[label]),
            f"{(med[label] - med[base[label]]) * 1000:+.0f}" if label in base else "",
        ]
        for label, _ in steps
    ]
    rows.append(
        [
            "`musictext search` (a never-seen query: text tower loads)",
            statistics.median(fresh),
            min(fresh),
            f"{(statistics.median(fresh) - med[steps[-1][0]]) * 1000:+.0f} (on the repeated query)",
        ]
    )
    return (
        f"### Cold `musictext search`: where the time goes ({n:,} tracks)\n\n"
        "Each row a new process, the rows run in turn 9 times (medians, best); `ms added`: the row's "
        "median minus the row it builds on (`+ numpy`/`+ typer` on bare Python; the CLI on the floor; "
        "`--help` and the repeated search on everything search imports). Bytecode is cached as for an "
        "installed package. The repeated-query target (0.12 s) is about the floor itself: Python with "
        "NumPy and Typer loaded, before musictext runs a line. "
        "On this shared 2-core machine every row stretches about 2x at load 6-8; rerun it quiet.\n\n"
        + table(["step", "median s", "best s", "ms added"], rows)
    )


def bench_inprocess(n: int) -> str:
    """Query time at ``n`` tracks in process, the layout and top-k of before this change (row-major
    matrix product, argpartition) next to the current code (Space.concept_scores on the
    column-major matrix the cache holds, space.top_rows), in the same run on the same arrays."""
    import resource
    import tracemalloc

    from musictext.concepts import build_concepts, concept_weights_to_columns
    from musictext.library.space import Space, bundle_concepts, joint_factor, top_rows
    from musictext.model.bundle import get_bundle
    from musictext.model.textspace import joint_vectors, text_side

    rng = np.random.default_rng(0)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bundle = get_bundle()
    width = max(col for c in bundle_concepts(bundle) for col, _ in c.columns) + 1  # tags, descriptors, learned
    raw = rng.normal(size=(n, width)).astype(np.float32)
    tags = text_side(bundle).tag_embeddings()
    joint = np.empty((n, tags.shape[1]), np.float32)  # as the built-in model makes them: mixes of its tag embeddings
    for start in range(0, n, 100_000):
        probs = rng.beta(0.3, 2.0, size=(min(100_000, n - start), tags.shape[0])).astype(np.float32)
        joint[start : start + len(probs)] = joint_vectors(probs, tags)
    mu, sd = raw.mean(0), raw.std(0)
    ids = np.arange(n, dtype=np.int64)
    before = Space("bench", ids, raw, mu, sd, joint)  # row-major, as the cache held it before
    t0 = time.perf_counter()
    factor = joint_factor(joint)
    factor_s = time.perf_counter() - t0
    space = Space("bench", ids, np.asfortranarray(raw), mu, sd, joint, factor)  # as build_space makes it
    del raw
    concepts = build_concepts([f"t{i}" for i in range(100)], ["mtt"] * 100)
    cols = concept_weights_to_columns(concepts, {0: 1.0, 5: 0.7}, width)
    q = joint[0]

    def old_topk(scores: np.ndarray, k: int = 20) -> np.ndarray:
        idx = np.argpartition(-scores, k)[:k]
        return idx[np.argsort(-scores[idx])]

    def old_concept() -> np.ndarray:
        w = cols / before.sd
        return old_topk(before.raw @ w - float(before.mu @ w))

    def median_ms(fn) -> tuple[float, float]:
        fn()
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000, min(times) * 1000

    same_concept = set(old_concept().tolist()) == set(top_rows(space.concept_scores(cols), 20).tolist())
    rows = []
    for label, old, new in (
        (
            "concept query (search): scores + top 20",
            old_concept,
            lambda: top_rows(space.concept_scores(cols), 20),
        ),
        (
            "joint-space query (similar, exact): scores + top 20",
            lambda: old_topk(before.joint_scores(q)),
            lambda: space.joint_top(q, 20)[0],
        ),
    ):
        before_ms, now_ms = median_ms(old), median_ms(new)
        tracemalloc.start()
        new()
        _, query_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append([label, *before_ms, *now_ms, query_peak / 2**20])
    same_joint = np.array_equal(top_rows(before.joint_scores(q), 20), space.joint_top(q, 20)[0])
    resident = (space.raw.nbytes + joint.nbytes + factor.coords.nbytes + factor.residual.nbytes) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"### In-process query time at {n:,} tracks\n\n"
        f"A 1M library holds {resident:.0f} MiB: concept matrix {space.raw.nbytes / 2**20:.0f} MiB (column-major), "
        f"joint vectors {joint.nbytes / 2**20:.0f} MiB, their low-rank factor {factor.coords.nbytes / 2**20:.0f} MiB "
        f"(rank {factor.basis.shape[0]} of {joint.shape[1]}, found in {factor_s:.1f} s). Peak RSS of this run "
        f"{peak:.0f} MiB ({peak - base_rss:.0f} MiB above start: generating the data, and both layouts held for the "
        "comparison). Joint vectors are made as the built-in model makes them (squared tag probabilities "
        "mixing its tag embeddings). `before`: the row-major matrix times the weight vector, the full "
        "joint matrix times the query, argpartition, as before this change; `now`: the current code "
        "(`Space.concept_scores` on the column-major matrix, `Space.joint_top`, `space.top_rows`). Same "
        "arrays, same run, 15 runs after one warm-up; `query MiB`: the most memory one query "
        f"allocates now (tracemalloc). Same top 20: concept {same_concept}, joint {same_joint}.\n\n"
        + table(["query", "before median ms", "before best ms", "now median ms", "now best ms", "query MiB now"], rows)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["all", "whole", "sampled", "long", "search", "coldparts", "inprocess", "_build"])
    ap.add_argument("args", nargs="*")
    default_tf = "/tmp/tfvenv/bin/python" if Path("/tmp/tfvenv/bin/python").exists() else None
    ap.add_argument("--tf-python", default=os.environ.get("MUSICTEXT_TF_PYTHON", default_tf))
    ap.add_argument("--budgets", default="2,4,8,16,0", help="windows per track to time (0: whole track)")
    ap.add_argument("--rounds", type=int, default=5, help="sampled: rounds per budget (medians)")
    a = ap.parse_args()
    if a.what == "_build":
        synthetic_library(Path(a.args[0]), int(a.args[1]))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    parts = []
    if a.what in ("all", "whole"):
        parts.append(("index-whole", bench_whole(a.tf_python)))
    if a.what in ("all", "sampled"):
        parts.append(("index-sampled", bench_sampled([int(b) for b in a.budgets.split(",")], a.rounds)))
    if a.what in ("all", "long"):
        parts.append(("index-long", bench_long()))
    if a.what in ("all", "search"):
        parts.append(("search-cold", bench_search([10_000, 100_000])))
    if a.what in ("all", "coldparts"):
        parts.append(("search-cold-parts", bench_cold_parts(100_000)))
    if a.what in ("all", "inprocess"):
        parts.append(("search-inprocess", bench_inprocess(1_000_000)))
    for name, text in parts:
        text = f"{text}\n\nCommand: `python benchmarks/bench_index.py {a.what}`; machine: {machine()}."
        print(text + "\n")
        write_section(name, text)


if __name__ == "__main__":
    main()
