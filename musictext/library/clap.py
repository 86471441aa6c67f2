"""The index pass of an imported CLAP bundle: a joint vector for every track its base bundle has
measured, from the CLAP audio tower (musictext.model.clap), stored under the CLAP model id."""

from __future__ import annotations

import numpy as np

from musictext.errors import ModelError, MusictextError
from musictext.model.bundle import Bundle


def embed_library(bundle: Bundle, device: str, budget: int | None, progress, refresh) -> int:
    """Store a joint vector under ``bundle`` for every track its base has analysed and this bundle
    has not (a changed file's vectors are dropped by the store when its content changes); returns
    how many were embedded."""
    from musictext.config import db_path
    from musictext.library.files import library_lock
    from musictext.library.store import Store
    from musictext.model.bundle import get_bundle
    from musictext.model.clap import SAMPLE_RATE, ClapTower, decode_48k, window_count
    from musictext.model.runtime import choose_device, worker_count

    base = get_bundle(bundle.base_name)
    if base.model_id != bundle.base:
        raise ModelError(
            f"{bundle.name} keeps its concepts from {bundle.base}, but {base.model_id} is installed", bundle.path
        )
    bundle.file("audio")  # refuse an altered model before touching the library
    tower = ClapTower(bundle, choose_device(device).providers, worker_count())
    count = window_count(budget)
    done = 0
    with library_lock(), Store(db_path()) as store:
        ids = store.features_matrix(bundle.base)[0]
        have = store.vectors(bundle.model_id)[0]
        with store.batch():
            store.delete_vectors(bundle.model_id, set(have.tolist()) - set(ids.tolist()))
        todo = [int(t) for t in ids if int(t) not in set(have.tolist())]
        if todo:
            progress.note(f"embedding {len(todo)} track(s) with {bundle.name} (48 kHz, 10 s windows)")
            progress.start(len(todo))
        tracks = store.tracks(todo)
        pending: list[tuple[int, np.ndarray]] = []
        for tid in todo:
            track = tracks.get(tid)
            if track is None:
                continue
            try:
                samples = decode_48k(track.path)
                pending.append((tid, tower.track_vector(samples, count)))
                seconds = len(samples) / SAMPLE_RATE
            except ModelError:
                raise
            except MusictextError as exc:
                progress.skip(track.path, exc.message)
                seconds = 0.0
            progress.advance(track.path, seconds)
            if len(pending) >= 16:
                done += _flush(store, bundle, pending)
        done += _flush(store, bundle, pending)
        refresh(store, bundle)  # library.index.refresh_derived (passed in: index imports this module)
    return done


def _flush(store, bundle: Bundle, pending: list) -> int:
    if not pending:
        return 0
    with store.batch():
        for tid, vec in pending:
            store.put_vector(tid, bundle.model_id, vec)
        store.bump_generation(bundle.model_id)
    n = len(pending)
    pending.clear()
    return n
