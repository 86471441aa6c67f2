"""What `musictext status` reports: where the library is, what is in it, and its health."""

from __future__ import annotations

from dataclasses import dataclass, field

from musictext.config import db_path, home, index_dir
from musictext.library import ann
from musictext.library.space import short_count, space_health
from musictext.library.store import Store
from musictext.model.bundle import list_bundles


@dataclass
class LibraryStatus:
    home: str
    database: str
    tracks: int
    audio_seconds: float
    models: dict[str, dict] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    # Mood axes (optional vibenet): installed, model id, how many tracks have them, what is wrong.
    mood: dict = field(default_factory=dict)


def library_status() -> LibraryStatus:
    with Store(db_path(), readonly=True) as store:
        status = LibraryStatus(str(home()), str(db_path()), store.count_tracks(), store.total_duration())
        vectors = store.vector_counts()
        features = store.feature_counts()
        for bundle in list_bundles():
            count = vectors.get(bundle.model_id, 0)
            if not count and bundle.model_id not in features:
                continue
            # Every derived file is hashed here (not trusted on its stamp): status says what is on disk.
            generation = store.generation(bundle.model_id)
            index = ann.index_health(index_dir(), bundle.model_id, generation, count, force=True)
            cache = space_health(store, bundle, index_dir(), force=True) if count else "missing"
            if cache != "ok":
                index += f"; cache {cache}" + (" (rebuilt from the store by the next search)" if count else "")
            status.models[bundle.model_id] = {
                "tracks": count,
                "index": index,
                "cache": cache,
                "short": short_count(store, bundle.base or bundle.model_id),
            }
        status.errors = store.errors()
        status.mood = _mood_status(store)
    return status


def _mood_status(store: Store) -> dict:
    from musictext.audio.mood import INSTALL, find_mood_model

    model = find_mood_model()
    counts = store.mood_counts()
    if not model.available:
        return {"present": False, "version": model.version, "problem": model.problem, "install": INSTALL}
    return {"present": True, "version": model.version, "model": model.model_id, "tracks": counts.get(model.model_id, 0)}
