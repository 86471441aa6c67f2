"""`musictext models verify`: checksums, and a smoke input through every ONNX graph."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from musictext.bundle import Bundle, verify_file
from musictext.errors import MusictextError


def verify_bundle(bundle: Bundle) -> Iterator[tuple[str, bool]]:
    """Yield (what was checked, passed) for every file and graph of ``bundle``."""
    files = bundle.manifest.get("files", {})
    for entry in files.values():
        try:
            verify_file(bundle.path / entry["path"], entry["sha256"])
            yield f"{entry['path']} sha256 matches", True
        except MusictextError as exc:
            yield f"{entry['path']}: {exc.message}", False
            return
    yield from _smoke(bundle)


def _smoke(bundle: Bundle) -> Iterator[tuple[str, bool]]:
    from musictext.runtime import make_session

    if bundle.has("audio"):
        try:
            from musictext.embed import AudioTower

            rng = np.random.default_rng(0)
            probs, pooled = AudioTower(bundle).run(rng.random((2, 187, 96), dtype=np.float32) * 3)
            n_tags = len(bundle.manifest["tags"])
            ok = probs.shape == (2, n_tags) and np.isfinite(probs).all() and np.isfinite(pooled).all()
            yield f"audio graph answers: probs {probs.shape}, features {pooled.shape}", bool(ok)
        except MusictextError as exc:
            yield f"audio graph: {exc.message}", False
    if bundle.has("text"):
        try:
            from musictext.text_model import TextEncoder

            vec = TextEncoder(bundle.file("text"), bundle.file("tokenizer")).encode(["a calm piano piece"])
            ok = (
                vec.shape[-1] == bundle.manifest["dims"]["text"]
                and abs(float(np.linalg.norm(vec[0])) - 1) < 1e-3
            )
            yield f"text graph answers: embedding {vec.shape}", bool(ok)
        except MusictextError as exc:
            yield f"text graph: {exc.message}", False
    if bundle.has("head"):
        try:
            session = make_session(bundle.file("head"))
            inp = session.get_inputs()[0]
            x = np.zeros((1, inp.shape[-1]), np.float32)
            y = session.run(None, {inp.name: x})[0]
            yield f"head graph answers: {y.shape}", bool(np.isfinite(y).all())
        except MusictextError as exc:
            yield f"head graph: {exc.message}", False
    if "probes" in bundle.manifest.get("files", {}) and bundle.manifest.get("learned_concepts"):
        try:
            from musictext.probes import learned_concepts, probe_columns

            learned = learned_concepts(bundle)
            n = learned.weight.shape[1] - len(bundle.manifest["tags"])
            cols = probe_columns(learned, np.full((2, len(bundle.manifest["tags"])), 0.5), np.zeros((2, n)))
            ok = cols.shape == (2, len(learned)) and np.isfinite(cols).all()
            yield f"learned concepts answer: {len(learned)} ({', '.join(learned.names[:6])}, ...)", bool(ok)
        except MusictextError as exc:
            yield f"learned concepts: {exc.message}", False
