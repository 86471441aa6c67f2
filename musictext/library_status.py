"""What `musictext status` reports: where the library is, what is in it, and its health."""

from __future__ import annotations

from dataclasses import dataclass, field

from musictext import ann
from musictext.bundle import list_bundles
from musictext.config import db_path, home, index_dir
from musictext.store import Store


@dataclass
class LibraryStatus:
    home: str
    database: str
    tracks: int
    audio_seconds: float
    models: dict[str, dict] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)


def library_status() -> LibraryStatus:
    with Store(db_path(), readonly=True) as store:
        seconds = store.conn.execute("SELECT COALESCE(SUM(duration), 0) FROM tracks").fetchone()[0]
        status = LibraryStatus(str(home()), str(db_path()), store.count_tracks(), float(seconds))
        vectors = store.vector_counts()
        features = store.feature_counts()
        for bundle in list_bundles():
            count = vectors.get(bundle.model_id, 0)
            if not count and bundle.model_id not in features:
                continue
            status.models[bundle.model_id] = {
                "tracks": count,
                "index": ann.index_health(
                    index_dir(), bundle.model_id, store.generation(bundle.model_id), count
                ),
            }
        status.errors = store.errors()
    return status
