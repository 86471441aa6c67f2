"""`musictext models verify`: checksums, and a smoke input through every ONNX graph."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from musictext.errors import MusictextError
from musictext.model.bundle import BASE_ROLES, Bundle, verify_file


def verify_bundle(bundle: Bundle) -> Iterator[tuple[str, bool]]:
    """Yield (what was checked, passed) for every file and graph of ``bundle``."""
    files = bundle.manifest.get("files", {})
    if bundle.base:  # a trained head: its base must be installed (one line if not), and its towers unchanged
        base = bundle.base_bundle()
        for role in BASE_ROLES:
            if role not in files and role in bundle.manifest.get("base_files", {}):
                try:
                    bundle.file(role)
                    yield f"{role}: {base.name}'s, sha256 as trained", True
                except MusictextError as exc:
                    yield f"{role}: {exc.message}", False
                    return
    for entry in files.values():
        try:
            # Always hashed here, never taken from the stamp cache: this is the command that catches
            # what a stamp cannot (a change made without going through the file system's clock).
            verify_file(bundle.path / entry["path"], entry["sha256"], force=True)
            yield f"{entry['path']} sha256 matches", True
        except MusictextError as exc:
            yield f"{entry['path']}: {exc.message}", False
            return
    yield from _smoke(bundle)


def _smoke(bundle: Bundle) -> Iterator[tuple[str, bool]]:
    from musictext.model.runtime import make_session

    if bundle.manifest.get("kind") == "clap":
        from musictext.model.clap import smoke

        yield from smoke(bundle)
        return
    if bundle.has("audio"):
        try:
            from musictext.audio.tower import AudioTower

            rng = np.random.default_rng(0)
            probs, pooled = AudioTower(bundle).run(rng.random((2, 187, 96), dtype=np.float32) * 3)
            n_tags = len(bundle.manifest["tags"])
            ok = probs.shape == (2, n_tags) and np.isfinite(probs).all() and np.isfinite(pooled).all()
            yield f"audio graph answers: probs {probs.shape}, features {pooled.shape}", bool(ok)
        except MusictextError as exc:
            yield f"audio graph: {exc.message}", False
    if bundle.has("text"):
        try:
            from musictext.model.text import TextEncoder

            vec = TextEncoder(bundle.file("text"), bundle.file("tokenizer")).encode(["a calm piano piece"])
            ok = vec.shape[-1] == bundle.manifest["dims"]["text"] and abs(float(np.linalg.norm(vec[0])) - 1) < 1e-3
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
            from musictext.model.probes import learned_concepts, probe_columns

            learned = learned_concepts(bundle)
            n = learned.weight.shape[1] - len(bundle.manifest["tags"])
            cols = probe_columns(learned, np.full((2, len(bundle.manifest["tags"])), 0.5), np.zeros((2, n)))
            ok = cols.shape == (2, len(learned)) and np.isfinite(cols).all()
            yield f"learned concepts answer: {len(learned)} ({', '.join(learned.names[:6])}, ...)", bool(ok)
        except MusictextError as exc:
            yield f"learned concepts: {exc.message}", False
