"""Mood axes from the installed vibenet package (the optional extra), and musictext without it.

vibenet is installed for real in CI (`.ci/run`: `pip install --no-deps vibenet==0.1.0`, plus pydub and
audioread, which only vibenet's own loader imports: the parity test calls vibenet's code). Where it is
not installed these tests skip, except under MUSICTEXT_TEST_TOOLS=required, where they fail.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musictext.audio import mood
from tests.conftest import SR, tone

ROOT = Path(__file__).resolve().parents[1]
# Runs musictext as if vibenet were not installed: neither its package nor its distribution can be found.
WITHOUT_VIBENET = """
import importlib.metadata as md, importlib.util as iu, sys
_version, _find_spec = md.version, iu.find_spec
def version(name):
    if name == "vibenet":
        raise md.PackageNotFoundError(name)
    return _version(name)
def find_spec(name, *args, **kwargs):
    return None if name == "vibenet" else _find_spec(name, *args, **kwargs)
md.version, iu.find_spec = version, find_spec
from musictext.cli.app import main
sys.argv = ["musictext", *sys.argv[1:]]
main()
"""


def _vibenet_installed() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("vibenet")
    except PackageNotFoundError:
        return False
    return True


needs_vibenet = pytest.mark.skipif(
    not _vibenet_installed() and os.environ.get("MUSICTEXT_TEST_TOOLS") != "required",
    reason=f"vibenet is not installed ({mood.INSTALL})",
)


def mt(*args: str, env: dict, without: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", WITHOUT_VIBENET, *args] if without else [sys.executable, "-m", "musictext", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"musictext {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def music(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return tone(seconds, tuple(rng.uniform(110, 440, 3)), seed=seed, clicks_per_s=float(rng.uniform(0, 6)))


@needs_vibenet
def test_front_end_and_outputs_match_vibenet_itself():
    """Our reproduction of vibenet's front end and output mapping gives vibenet's own numbers."""
    import vibenet
    from vibenet.core import extract_mel

    y = music(12, 1)[: 12 * 16000]  # any float waveform; treated as 16 kHz, as vibenet's predict(sr=16000) does
    assert np.array_equal(mood.log_mel(y), extract_mel(y, 16000))
    model = mood.find_mood_model()
    assert model.available and model.path.name == "efficientnet_model.onnx"
    assert "site-packages" in str(model.path) or "vibenet" in str(model.path.parent.parent)
    ours = mood.MoodTower(model).axes(y)
    theirs = vibenet.load_model().predict([y], 16000)[0].to_dict()
    assert set(ours) == set(theirs) == set(mood.MOOD_AXES)
    for axis in mood.MOOD_AXES:
        assert ours[axis] == pytest.approx(theirs[axis], abs=1e-6)
        assert 0.0 <= ours[axis] <= 1.0


@needs_vibenet
def test_an_altered_or_unknown_model_is_refused(monkeypatch):
    mood.find_mood_model.cache_clear()
    monkeypatch.setitem(mood.SUPPORTED, "0.1.0", "0" * 64)
    try:
        model = mood.find_mood_model()
        assert not model.available and "checksum" in model.problem
        with pytest.raises(Exception, match="checksum"):
            mood.MoodTower(model)
    finally:
        mood.find_mood_model.cache_clear()
    monkeypatch.setattr(mood, "SUPPORTED", {"9.9": "0" * 64})
    try:
        assert "not supported" in mood.find_mood_model().problem
    finally:
        mood.find_mood_model.cache_clear()


@needs_vibenet
def test_index_stores_mood_axes_usable_in_search_where_status_and_concepts(tmp_path):
    root = tmp_path / "Music"
    root.mkdir()
    for i in range(4):
        sf.write(root / f"t{i}.wav", music(8, i), SR)
    env = {**os.environ, "MUSICTEXT_HOME": str(tmp_path / "home")}
    # Indexed first without vibenet: no mood axes, and everything works as before.
    mt("index", str(root), env=env, without=True)
    assert "no mood axes (optional: pip install --no-deps vibenet==0.1.0)" in mt("status", env=env, without=True).stdout
    bad = mt("search", "piano", "--where", "valence>0.5", env=env, without=True, check=False)
    assert bad.returncode == 1 and "pip install --no-deps vibenet==0.1.0" in bad.stderr
    assert "Traceback" not in bad.stderr
    concepts = mt("models", "concepts", env=env, without=True).stdout
    assert "valence" not in concepts and "energy" not in concepts

    # With vibenet: the tracks without mood axes are analysed again, and only they.
    report = last_json(mt("index", str(root), "--json", env=env).stdout)
    assert report["indexed"] == 4
    assert last_json(mt("index", str(root), "--json", env=env).stdout)["indexed"] == 0
    status = last_json(mt("status", "--json", env=env).stdout)
    assert status["mood"]["present"] is True and status["mood"]["tracks"] == 4

    db = sqlite3.connect(Path(env["MUSICTEXT_HOME"]) / "library.sqlite3")
    rows = db.execute(f"SELECT mood_model, {', '.join(mood.MOOD_AXES)} FROM mood_axes").fetchall()
    db.close()
    assert len(rows) == 4 and {r[0] for r in rows} == {mood.find_mood_model().model_id}
    valence = sorted(r[1] for r in rows)
    # --where reads the stored values: a threshold between two tracks' valence splits them.
    cut = (valence[1] + valence[2]) / 2
    high = mt("search", "music", "--where", f"valence>{cut}", "--paths", env=env).stdout.split()
    low = mt("search", "music", "--where", f"valence<={cut}", "--paths", env=env).stdout.split()
    assert len(high) == 2 and len(low) == 2 and not set(high) & set(low)

    # Words name the axes: "energetic" is the energy axis, ranked by the stored values.
    out = mt("search", "energetic", "--json", "--explain", "-n", "4", env=env)
    found = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert {w["concept"] for w in found[0]["why"]} == {"energy"}
    ranked = [r["path"] for r in found]
    db = sqlite3.connect(Path(env["MUSICTEXT_HOME"]) / "library.sqlite3")
    energy = dict(db.execute("SELECT t.path, m.energy FROM mood_axes m JOIN tracks t ON t.id = m.track_id"))
    db.close()
    assert ranked[0] == max(energy, key=energy.get)
    concepts = mt("models", "concepts", env=env).stdout
    assert "valence" in concepts and "energetic" in concepts and "mood" in concepts

    # Tags: a vocabulary term that names an axis scores by it.
    vocab = tmp_path / "moods.txt"
    vocab.write_text("energetic\ncheerful\n")
    tagged = mt("tag", "--vocab", str(vocab), "--json", "--scores", env=env).stdout
    scores = {json.loads(line)["path"]: json.loads(line)["scores"] for line in tagged.splitlines() if line.strip()}
    assert len(scores) == 4
    best = max(scores, key=lambda p: scores[p]["energetic"])
    assert best == max(energy, key=energy.get)


def test_stored_axes_of_another_mood_model_never_mix(tmp_path):
    from musictext.library.store import Store

    with Store(tmp_path / "lib.sqlite3") as store:
        with store.batch():
            tid = store.upsert_track("/m/a.wav", 1, 1, "h", 10.0, {})
            store.put_mood(tid, "vibenet@0.0.1+m1", {a: 0.9 for a in mood.MOOD_AXES})
        assert np.isnan(store.mood_matrix("vibenet@0.1.0+m1", np.array([tid]))).all()
        assert store.mood_matrix("vibenet@0.0.1+m1", np.array([tid]))[0].tolist() == pytest.approx([0.9] * 7)
        assert not store.has_mood(tid, "vibenet@0.1.0+m1")
