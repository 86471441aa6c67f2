"""Re-project the library with a trained head: stored features in, joint vectors out.

No audio is decoded and torch is not needed: the head's exported ONNX graph runs in onnxruntime on
the features the base bundle's audio tower stored when the library was indexed.
"""

from __future__ import annotations

import time

import numpy as np

from musictext.bundle import Bundle, get_bundle
from musictext.errors import ModelError, NotFoundError

BATCH = 4096


def project_features(bundle: Bundle, probs: np.ndarray, pooled: np.ndarray,
                     descriptors: dict | np.ndarray) -> np.ndarray:
    """[n, d] unit joint vectors of tracks from their base-model features (``descriptors`` as the
    store's dict of columns, or an [n, 6] matrix in ``features.DESCRIPTORS`` order)."""
    from musictext.runtime import make_session
    from musictext.train.features import descriptor_matrix, head_inputs

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


def reproject(bundle: Bundle, progress):
    """Joint vectors of every track indexed with ``bundle``'s base model, stored under ``bundle``."""
    from musictext.config import db_path
    from musictext.indexer import IndexReport, library_lock
    from musictext.store import Store

    t0 = time.perf_counter()
    if not bundle.base:
        raise ModelError(f"bundle {bundle.name} names no base model", bundle.path)
    base = get_bundle(bundle.base.split("@")[0])
    if base.model_id != bundle.base:
        raise ModelError(f"{bundle.name} was trained on features of {bundle.base}, but {base.model_id} is installed:"
                         " retrain it with `musictext train`", bundle.path)
    bundle.file("head")  # refuse an altered head before touching the library
    with library_lock(), Store(db_path()) as store:
        ids, probs, pooled, desc = store.features_matrix(bundle.base)
        if not len(ids):
            raise NotFoundError(f"no track is indexed with {base.name} yet: run `musictext index PATH` first")
        progress.note(f"re-projecting {len(ids)} stored track(s) with {bundle.name} (no decoding)")
        vectors = project_features(bundle, probs, pooled, desc)
        with store.batch():
            known = set(store.vectors(bundle.model_id)[0].tolist())
            stale = known - set(ids.tolist())
            store.conn.executemany("DELETE FROM vectors WHERE track_id=? AND model=?",
                                   [(t, bundle.model_id) for t in stale])
            for tid, vec in zip(ids, vectors):
                store.put_vector(int(tid), bundle.model_id, vec)
            store.bump_generation(bundle.model_id)
        _refresh_derived(store, bundle)
    return IndexReport(len(ids), 0, 0, 0, 0, 0.0, round(time.perf_counter() - t0, 2), "cpu")


def _refresh_derived(store, bundle: Bundle) -> None:
    from musictext.indexer import refresh_derived

    refresh_derived(store, bundle)


def apply_text_adapter(bundle: Bundle, vectors: np.ndarray) -> np.ndarray:
    """Text vectors through the bundle's trained text adapter (``--train-text-adapter``), if it has one."""
    if not bundle.has("text_adapter") or not len(vectors):
        return vectors
    from musictext.runtime import make_session

    session = _adapter_sessions.get(bundle.path)
    if session is None:
        session = _adapter_sessions[bundle.path] = make_session(bundle.file("text_adapter"))
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.asarray(vectors, np.float32)})[0]


_adapter_sessions: dict = {}
