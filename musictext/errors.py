"""One error family for musictext, caught once in the CLI and shown as a one-line message."""

from __future__ import annotations

from pathlib import Path


class ExitCode:
    """Process exit codes (httpie's ExitStatus idea): stable, documented in the README."""

    OK = 0
    ERROR = 1  # the command could not run (bad arguments, broken store, ...)
    USAGE = 2  # Typer/Click usage errors
    NOT_FOUND = 3  # nothing to work on: empty library, unknown model, unknown path
    BUSY = 4  # another musictext process holds the library lock
    INTERRUPTED = 130


class MusictextError(Exception):
    """Base of every error musictext reports to the user; ``path`` names the file concerned."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DecodeError(MusictextError):
    """An audio file could not be decoded (corrupt, empty, unsupported, too short)."""


class TagReadError(MusictextError):
    """A file's tags could not be read."""


class TagWriteError(MusictextError):
    """A file's tags could not be written; the file is left as it was."""


class ModelError(MusictextError):
    """A model bundle is missing, altered (checksum mismatch) or cannot be loaded."""


class NotFoundError(MusictextError):
    exit_code = ExitCode.NOT_FOUND


class LibraryBusyError(MusictextError):
    exit_code = ExitCode.BUSY


class DependencyError(MusictextError):
    """An optional dependency (torch for training, onnxruntime-gpu for CUDA) is missing."""


def read_user_text(path: str | Path, what: str) -> str:
    """A UTF-8 text file the user named (a vocabulary, a pairs file), or a one-line error."""
    source = Path(path).expanduser()
    try:
        return source.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise NotFoundError(f"cannot read {what} ({exc.strerror})", source) from exc
    except UnicodeDecodeError:
        raise MusictextError(f"{what} file is not UTF-8 text", source) from None
