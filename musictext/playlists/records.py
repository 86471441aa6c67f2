"""What every kind of playlist is: entries in order, with a name and the warnings made on the way."""

from __future__ import annotations

from dataclasses import dataclass, field

from musictext.library.store import TrackRow


@dataclass(frozen=True)
class PlaylistEntry:
    position: int  # 1-based
    track: TrackRow
    score: float  # relevance (ranked), closeness to the walk's step (--from/--to) or to the cluster centre (--auto)

    def as_json(self) -> dict:
        t = self.track
        return {
            "position": self.position,
            "path": t.path,
            "artist": t.artist,
            "title": t.title,
            "duration": t.duration,
            "score": self.score,
        }


@dataclass
class Playlist:
    name: str
    entries: list[PlaylistEntry]
    warnings: list[str] = field(default_factory=list)
    seed: dict | None = None  # what a similarity phrase ("like X") resolved to (musictext.seeds)

    @property
    def duration(self) -> float:
        """Total of the known track durations, in seconds."""
        return float(sum(e.track.duration or 0.0 for e in self.entries))

    def __len__(self) -> int:
        return len(self.entries)
