"""Where output goes: results to stdout, everything else (progress, notes, warnings) to stderr."""

from __future__ import annotations

import json
import sys


class _LazyConsole:
    """A rich Console made on first use: `--json` and `--paths` runs never import rich."""

    def __init__(self, **options):
        self._options = options
        self._console = None

    def real(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name):
        return getattr(self.real(), name)


out = _LazyConsole(highlight=False, soft_wrap=True)
err = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def emit_json(obj) -> None:
    """One JSON object per line on stdout (never wrapped, never styled)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)


def note(message: str) -> None:
    err.print(message, markup=False, highlight=False)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
