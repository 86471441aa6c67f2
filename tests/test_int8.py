"""Pipeline 2: the timbral convolutions run in int8 (models/quantize_audio.py); vectors of pipeline 1
are analysed again, never mixed with pipeline 2 ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import tone

from musictext.audio.frontend import log_mel, patches
from musictext.model.bundle import get_bundle
from musictext.model.runtime import make_session

REPO = Path(__file__).resolve().parents[1]


def _music(seconds: float, seed: int) -> np.ndarray:
    """Chords changing every 2 s over a noise-burst beat (what the benchmarks index), at 16 kHz."""
    rng = np.random.default_rng(seed)
    parts = [
        tone(2.0, 110 * 2 ** (rng.integers(0, 12) / 12) * np.array([1, 1.25, 1.5]), sr=16000, seed=i) for i in range(8)
    ]
    y = np.concatenate(parts)[: int(seconds * 16000)]
    return y + tone(len(y) / 16000, (55.0,), clicks_per_s=rng.uniform(1.5, 3), sr=16000, seed=seed, amp=0.2)[: len(y)]


def test_int8_graph_close_to_float():
    """Tolerance: every tag probability within 0.03 of the float graph's (PERFORMANCE.md measured
    <= 0.024), the penultimate features within 5% of their scale, the same top-3 tags per clip (mean over its patches)
    wherever the float graph's 3rd and 4th tags are more than 0.01 apart."""
    bundle = get_bundle()
    assert bundle.audio_role == "audio_int8"
    clips = [patches(log_mel(_music(15.0, seed))) for seed in range(4)]
    x = np.concatenate(clips)
    outs = []
    for role in ("audio", "audio_int8"):
        msd, msd_p, mtt, mtt_p = make_session(bundle.file(role), threads=1).run(None, {"mel": x})
        outs.append((1 / (1 + np.exp(-np.concatenate([msd, mtt], 1))), np.concatenate([msd_p, mtt_p], 1)))
    (pf, ff), (pi, fi) = outs
    assert np.abs(pf - pi).max() <= 0.03
    assert np.abs(ff - fi).max() <= 0.05 * np.abs(ff).max()
    top3 = lambda p: np.sort(np.argsort(-p, 1)[:, :3], 1)  # noqa: E731
    per_clip = lambda p: np.stack([c.mean(0) for c in np.split(p, np.cumsum([len(c) for c in clips])[:-1])])  # noqa: E731
    mf, mi = per_clip(pf), per_clip(pi)
    # a track's top-3 (mean over its patches) stays, where the float graph decides it by more than 0.01
    gap = -np.diff(np.sort(mf, 1)[:, ::-1][:, 2:4], axis=1)[:, 0]
    decided = gap > 0.01
    assert decided.any()
    assert (top3(mf)[decided] == top3(mi)[decided]).all()
    assert np.abs(pf - pi).max() > 0  # really another graph


def _index(root: Path, model: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "musictext", "index", str(root), "--model", model, "--json"],
        capture_output=True,
        text=True,
        env=os.environ,
        cwd=REPO,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")][-1]


def test_pipeline_bump_reanalyses(tmp_path, musictext_home):
    """A library indexed by pipeline 1 is analysed again by pipeline 2 (new model id), not reused."""
    shipped = get_bundle().path
    mine = musictext_home / "models" / "mm"
    mine.mkdir(parents=True)
    for f in shipped.iterdir():
        if f.name != "manifest.json":
            (mine / f.name).symlink_to(f)
    manifest = json.loads((shipped / "manifest.json").read_text()) | {"name": "mm", "pipeline_version": 1}
    (mine / "manifest.json").write_text(json.dumps(manifest))
    root = tmp_path / "Music"
    root.mkdir()
    for i in range(2):
        sf.write(root / f"t{i}.wav", _music(8.0, i), 16000)
    first = _index(root, "mm")
    assert first["indexed"] == 2
    assert _index(root, "mm")["unchanged"] == 2
    (mine / "manifest.json").write_text(json.dumps(manifest | {"pipeline_version": 2}))
    again = _index(root, "mm")
    assert again["indexed"] == 2 and again["unchanged"] == 0
    from musictext.config import db_path
    from musictext.library.store import Store

    with Store(db_path(), readonly=True) as store:
        v1, v2 = store.vectors("mm@1.0+p1")[1], store.vectors("mm@1.0+p2")[1]
    assert len(v1) == 2 and len(v2) == 2
    assert not np.array_equal(v1, v2)
