"""How a long job tells its caller what happens: the services report, the CLI draws.

Every job reports skipped files (one line each) and notes through a ``Reporter``; ``index`` also
advances once per track (``Progress``) and ``train`` once per epoch (``TrainProgress``). The CLI
passes objects that draw a bar on a TTY; tests and library callers pass ``SilentProgress``.
"""

from __future__ import annotations

from typing import Any, Protocol


class Reporter(Protocol):
    """What any step that may meet a bad file needs: a one-line reason per skipped file, and notes."""

    def skip(self, path: str, reason: str) -> None: ...
    def note(self, message: str) -> None: ...


class Progress(Reporter, Protocol):
    """Indexing: ``total`` tracks, then one ``advance`` per analysed track."""

    def start(self, total: int) -> None: ...
    def advance(self, path: str, audio_seconds: float) -> None: ...


class TrainProgress(Reporter, Protocol):
    """Training: ``epochs`` in all (``done`` finished by the run being resumed), one ``epoch`` each."""

    def start(self, epochs: int, done: int) -> None: ...
    def epoch(self, stats: Any) -> None: ...


class SilentProgress:
    """Any of the above, saying nothing."""

    def start(self, total: int, done: int = 0) -> None: ...
    def advance(self, path: str, audio_seconds: float) -> None: ...
    def epoch(self, stats: Any) -> None: ...
    def skip(self, path: str, reason: str) -> None: ...
    def note(self, message: str) -> None: ...
