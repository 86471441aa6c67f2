"""The Ray engine on a real local Ray cluster the tests start (one per module, two CPUs): the same
library through `--engine local` and `--engine ray` gives the same tracks and vectors; a killed Ray
run resumes without analysing anything twice; bad files are skipped with reasons; Parquet shards
round-trip. Without the cluster extra, one line names it and the runtime never imports ray."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musictext.library.store import Store
from musictext.model.bundle import get_bundle
from tests.conftest import SR, make_library, tone

ROOT = Path(__file__).resolve().parents[1]


def _need_ray():
    import importlib.util

    # found, not imported: the test process itself never loads Ray (its threads and forked workers do not mix)
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyarrow") is None:
        if os.environ.get("MUSICTEXT_TEST_TOOLS") == "required":
            pytest.fail('the cluster extra is not installed: pip install -e ".[cluster]"')
        pytest.skip("the cluster extra (ray[data]) is not installed")


CLUSTER = """
import sys, ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the tests close it
ray.shutdown()
"""


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray cluster for this module, started by a helper process (so that the test process
    holds no Ray threads when later tests fork workers); the CLI runs join it with --address."""
    _need_ray()
    # Ray 2.5x clusters started by ray.init() want a token (kept in ~/.ray); processes that join
    # say so with RAY_AUTH_MODE=token, as a user joining such a cluster does.
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "token"
    proc = subprocess.Popen(
        [sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        address = proc.stdout.readline().strip()
        assert address, "the Ray cluster did not start"
        yield address
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if before is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = before


def mt(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUSICTEXT_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "musictext", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"musictext {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def _add_bad_files(root: Path) -> None:
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.mp3").write_bytes(b"")
    (bad / "text.flac").write_text("not audio at all\n" * 50)
    sf.write(bad / "short.wav", tone(0.2), SR)
    sf.write(bad / "silence.wav", np.zeros(SR * 5, np.float32), SR)


def _library(home: Path) -> dict:
    """path -> (vector, probs, descriptors) of every indexed track, and the errors."""
    model = get_bundle(None).model_id
    with Store(home / "library.sqlite3", readonly=True) as store:
        tracks = store.tracks()
        vids, vecs = store.vectors(model)
        fids, probs, _, desc = store.features_matrix(model)
        errors = dict(store.errors())
    assert list(vids) == list(fids)
    out = {}
    for i, tid in enumerate(vids):
        out[tracks[int(tid)].path] = (vecs[i], probs[i], {k: float(v[i]) for k, v in desc.items()})
    return {"tracks": out, "errors": errors}


CHECK_IMPORTS = """
import sys
from musictext.cli.app import main
sys.argv = ["musictext", "index", sys.argv[1], "--json"]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("ray", "pyarrow"))
print("LEAKED", leaked)
"""


@pytest.fixture(scope="module")
def both_engines(ray_address, tmp_path_factory):
    """One library with bad files, indexed by the local engine and by the Ray engine."""
    root = make_library(tmp_path_factory.mktemp("same"))
    _add_bad_files(root)
    local_home, ray_home = tmp_path_factory.mktemp("local-home"), tmp_path_factory.mktemp("ray-home")
    # the local run also shows that the local engine imports neither ray nor pyarrow
    env = {**os.environ, "MUSICTEXT_HOME": str(local_home)}
    local = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS, str(root)], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert local.returncode == 0 and "LEAKED []" in local.stdout, (local.stdout, local.stderr)
    ray_run = mt(ray_home, "index", str(root), "--engine", "ray", "--address", ray_address, "--json")
    return root, (local_home, local), (ray_home, ray_run)


@pytest.mark.cluster
def test_local_and_ray_give_the_same_library(both_engines):
    _, (local_home, local), (ray_home, ray_run) = both_engines
    a, b = last_json(local.stdout), last_json(ray_run.stdout)
    assert b["engine"] == "ray" and a["engine"] == "local"
    assert "LEAKED []" in local.stdout  # the local engine imported neither ray nor pyarrow
    assert (a["indexed"], a["failed"]) == (b["indexed"], b["failed"]) == (6, 4)
    la, lb = _library(local_home), _library(ray_home)
    assert sorted(la["tracks"]) == sorted(lb["tracks"]) and len(la["tracks"]) == 6
    for path, (vec, probs, desc) in la["tracks"].items():
        vec_r, probs_r, desc_r = lb["tracks"][path]
        assert np.abs(vec - vec_r).max() <= 1e-5, path
        assert np.abs(probs - probs_r).max() <= 1e-5, path
        assert desc == pytest.approx(desc_r, abs=1e-5, nan_ok=True), path
    # search over either library ranks the same
    hits = [last_json(mt(h, "search", "drums", "-n", "1", "--json").stdout)["path"] for h in (local_home, ray_home)]
    assert hits[0] == hits[1]


@pytest.mark.cluster
def test_ray_skips_bad_files_with_reasons(both_engines):
    _, (local_home, _), (ray_home, ray_run) = both_engines
    skipped = [line for line in ray_run.stderr.splitlines() if line.startswith("skipping ")]
    assert len(skipped) == 4 and "Traceback" not in ray_run.stderr, ray_run.stderr
    la, lb = _library(local_home), _library(ray_home)
    assert {Path(p).name for p in lb["errors"]} == {"empty.mp3", "text.flac", "short.wav", "silence.wav"}
    assert la["errors"] == lb["errors"]  # the same reasons, word for word
    # unchanged bad files are not retried by the Ray engine either
    root = both_engines[0]
    again = mt(ray_home, "index", str(root), "--engine", "ray", "--address", "auto", "--json")
    report = last_json(again.stdout)
    assert report["failed"] == 4 and report["unchanged"] == 6 and report["indexed"] == 0


UNREADABLE = """
import json, sys
from musictext.audio.ray_engine import RayOptions, analyse_on_ray
from musictext.model.bundle import get_bundle
out = analyse_on_ray(get_bundle(None), "cpu", 10, sys.argv[2:], 2, RayOptions(address=sys.argv[1]))
print(json.dumps({p: [f is not None, r] for p, f, r in out}))
"""


@pytest.mark.cluster
def test_a_worker_that_cannot_open_a_path_reports_a_bad_file(ray_address, library):
    good = str(library / "calm" / "chord.flac")
    missing = str(library / "elsewhere" / "not on this worker.flac")
    proc = subprocess.run(
        [sys.executable, "-c", UNREADABLE, ray_address, good, missing], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    out = last_json(proc.stdout)
    assert out[good] == [True, None]
    assert out[missing][0] is False and "cannot open" in out[missing][1] and "shared storage" in out[missing][1]


@pytest.mark.cluster
def test_export_import_round_trip(both_engines, tmp_path):
    root, _, (ray_home, _) = both_engines
    shards = tmp_path / "shards"
    proc = mt(ray_home, "index", str(root), "--export", "parquet", str(shards), "--json")
    assert last_json(proc.stdout)["unchanged"] == 6 and sorted(p.name for p in shards.iterdir()) == [
        "part-00000.parquet"
    ]
    new_home = tmp_path / "imported-home"
    report = last_json(mt(new_home, "index", "--import", str(shards), "--json").stdout)
    assert report == {"imported": 6, "unchanged": 0, "shards": 1}
    src, dst = _library(ray_home)["tracks"], _library(new_home)["tracks"]
    assert sorted(src) == sorted(dst)
    for path, (vec, probs, desc) in src.items():
        assert np.array_equal(vec, dst[path][0]) and np.array_equal(probs, dst[path][1])
        assert desc == pytest.approx(dst[path][2], nan_ok=True)
    again = last_json(mt(new_home, "index", "--import", str(shards), "--json").stdout)
    assert again == {"imported": 0, "unchanged": 6, "shards": 1}
    # the imported library answers queries, and knows the files are unchanged (no decoding)
    assert last_json(mt(new_home, "search", "drums", "-n", "1", "--json").stdout)["path"].endswith("clicks.wav")
    assert last_json(mt(new_home, "index", str(root), "--json").stdout)["unchanged"] == 6


def _many_tracks(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(root / f"t{i:03d}.wav", tone(4, (110.0 * (1 + i % 7) + i,), seed=i, clicks_per_s=i % 5), SR)


@pytest.mark.cluster
def test_killed_ray_run_resumes_and_moves_are_recognised(ray_address, tmp_path):
    # Enough files that the run is still analysing after its first commit (every 16 tracks or
    # COMMIT_SECONDS): with 20, the last few took milliseconds and the kill came after the end (seen in CI).
    music, home, n = tmp_path / "many", tmp_path / "kill-home", 120
    _many_tracks(music, n)
    env = {**os.environ, "MUSICTEXT_HOME": str(home)}
    args = [sys.executable, "-m", "musictext", "index", str(music), "--engine", "ray", "--address", ray_address]
    proc = subprocess.Popen([*args, "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)

    def count() -> int:
        try:
            return (
                sqlite3.connect(home / "library.sqlite3", timeout=1)
                .execute("SELECT COUNT(*) FROM tracks")
                .fetchone()[0]
            )
        except sqlite3.Error:
            return 0

    deadline = time.time() + 90
    while time.time() < deadline and count() == 0 and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run finished ({count()} of {n}) before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = count()
    assert 0 < done < n, f"kill came too late or too early to test resuming ({done} of {n})"
    report = last_json(mt(home, "index", str(music), "--engine", "ray", "--address", ray_address, "--json").stdout)
    assert report["unchanged"] == done and report["indexed"] == n - done and report["failed"] == 0
    # a moved file is recognised by the same rules: nothing analysed, nothing lost
    (music / "sub").mkdir()
    shutil.move(music / "t000.wav", music / "sub" / "t000 moved.wav")
    moved = last_json(mt(home, "index", str(music), "--engine", "ray", "--address", ray_address, "--json").stdout)
    assert moved["moved"] == 1 and moved["indexed"] == 0 and moved["audio_seconds"] == 0
    assert last_json(mt(home, "status", "--json").stdout)["tracks"] == n


BLOCK_EXTRA = """
import sys
for name in ("ray", "pyarrow"):
    sys.modules[name] = None  # as if the cluster extra were not installed
from musictext.cli.app import main
sys.argv = ["musictext", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(
    "args",
    [
        ["index", "{lib}", "--engine", "ray"],
        ["index", "{lib}", "--export", "parquet", "{tmp}/out"],
        ["index", "--import", "{tmp}"],
    ],
)
def test_without_the_cluster_extra_one_line_names_it(library, tmp_path, args):
    args = [a.format(lib=library, tmp=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, "-c", BLOCK_EXTRA, *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "musictext[cluster]" in lines[0] and "Traceback" not in proc.stderr
    assert not (Path(os.environ["MUSICTEXT_HOME"]) / "library.sqlite3").exists()  # refused before any work
