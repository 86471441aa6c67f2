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


class UsageError(MusictextError):
    """The user asked for something that cannot be done as asked (a bad vocabulary section)."""

    exit_code = ExitCode.USAGE


class DependencyError(MusictextError):
    """An optional dependency (torch for training, onnxruntime-gpu for CUDA) is missing."""


MAX_USER_TEXT_BYTES = 64 << 20  # a vocabulary or pairs file is text a person wrote: 64 MiB is plenty


def read_user_text(path: str | Path, what: str, max_bytes: int = MAX_USER_TEXT_BYTES) -> str:
    """A UTF-8 text file the user named (a vocabulary, a pairs file), or a one-line error.

    Only regular files are read (a FIFO would block, /dev/zero would never end), and at most
    ``max_bytes`` of them.
    """
    import os
    import stat

    source = Path(path).expanduser()
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (regular files ignore the flag).
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise MusictextError(f"{what} is not a regular file", source)
            if st.st_size > max_bytes:
                raise MusictextError(
                    f"{what} file is too large ({st.st_size >> 20} MiB > {max_bytes >> 20} MiB)", source
                )
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise NotFoundError(f"cannot read {what} ({exc.strerror})", source) from exc
    if len(data) > max_bytes:  # grew while we read it
        raise MusictextError(f"{what} file is too large (> {max_bytes >> 20} MiB)", source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MusictextError(f"{what} file is not UTF-8 text", source) from None
