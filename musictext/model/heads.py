"""Re-project the library with a trained head: stored features in, joint vectors out.

No audio is decoded and torch is not needed: the head's exported ONNX graph runs in onnxruntime on
the features the base bundle's audio tower stored when the library was indexed.
"""

from __future__ import annotations

import numpy as np

from musictext.audio.descriptors import SCALAR_DESCRIPTORS
from musictext.errors import ModelError
from musictext.model.bundle import Bundle

BATCH = 4096
# Measured descriptors fed to a trained head, in order
DESCRIPTORS = SCALAR_DESCRIPTORS


def descriptor_matrix(desc: dict[str, np.ndarray], n: int) -> np.ndarray:
    if not desc:
        return np.full((n, len(DESCRIPTORS)), np.nan, np.float32)
    return np.stack([np.asarray(desc[k], np.float32) for k in DESCRIPTORS], axis=1)


def head_inputs(
    probs: np.ndarray, pooled: np.ndarray, descriptors: np.ndarray, fill: np.ndarray | None = None
) -> np.ndarray:
    d = np.array(descriptors, np.float32, copy=True)
    fill = np.zeros(d.shape[1], np.float32) if fill is None else np.asarray(fill, np.float32)
    bad = ~np.isfinite(d)
    d[bad] = np.broadcast_to(fill, d.shape)[bad]
    return np.concatenate([probs, pooled, d], axis=1).astype(np.float32)


def project_features(
    bundle: Bundle, probs: np.ndarray, pooled: np.ndarray, descriptors: dict | np.ndarray
) -> np.ndarray:
    """[n, d] unit joint vectors of tracks from their base-model features (``descriptors`` as the
    store's dict of columns, or an [n, 6] matrix in ``DESCRIPTORS`` order)."""
    from musictext.model.runtime import make_session

    if isinstance(descriptors, dict):
        descriptors = descriptor_matrix(descriptors, len(probs))
    fill = np.asarray(bundle.manifest.get("head", {}).get("descriptor_fill", np.zeros(descriptors.shape[1])))
    x = head_inputs(np.asarray(probs, np.float32), np.asarray(pooled, np.float32), descriptors, fill)
    session = make_session(bundle.file("head"))
    name = session.get_inputs()[0].name
    width = session.get_inputs()[0].shape[-1]
    if isinstance(width, int) and width != x.shape[1]:
        raise ModelError(f"head expects {width} features per track, the store has {x.shape[1]}", bundle.path)
    out = [session.run(None, {name: x[i : i + BATCH]})[0] for i in range(0, len(x), BATCH)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def apply_text_adapter(bundle: Bundle, vectors: np.ndarray) -> np.ndarray:
    """Text vectors through the bundle's trained text adapter (``--train-text-adapter``), if it has one."""
    if not bundle.has("text_adapter") or not len(vectors):
        return vectors
    from musictext.model.runtime import make_session

    session = _adapter_sessions.get(bundle.path)
    if session is None:
        session = _adapter_sessions[bundle.path] = make_session(bundle.file("text_adapter"))
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.asarray(vectors, np.float32)})[0]


_adapter_sessions: dict = {}
