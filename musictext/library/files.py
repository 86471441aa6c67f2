"""The library's files as the indexer sees them: a cheap content hash, the tags they carry, and
the writer lock that keeps two musictext processes from updating one library at once."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from musictext.config import home
from musictext.errors import LibraryBusyError, MusictextError, TagReadError

HASH_BLOCK = 1 << 16


def content_hash(path: str, size: int) -> str:
    """sha256 of the size and three 64 KiB samples (head, middle, tail): cheap on huge files,
    and enough to recognise a moved or renamed file."""
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        for offset in sorted({0, max(0, size // 2 - HASH_BLOCK // 2), max(0, size - HASH_BLOCK)}):
            fh.seek(offset)
            digest.update(fh.read(HASH_BLOCK))
    return digest.hexdigest()


# The lock's file descriptor while this process holds it. flock() locks belong to the open file,
# which a forked worker shares: each child closes its copy at once, so a worker that outlives a
# killed parent cannot keep the library locked.
_lock_fd: int | None = None


def _close_lock_in_child() -> None:
    global _lock_fd
    if _lock_fd is not None:
        try:
            os.close(_lock_fd)
        except OSError:
            pass
        _lock_fd = None


os.register_at_fork(after_in_child=_close_lock_in_child)


@contextmanager
def library_lock(wait: bool = False) -> Iterator[None]:
    """Exclusive lock on the library for writers; a second writer waits or exits with a message."""
    global _lock_fd
    path = home(create=True) / "index.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            reason = "it is a symbolic link; remove it"
        elif exc.errno == errno.EISDIR:
            reason = "it is a folder; remove it"
        else:
            reason = exc.strerror or str(exc)
        raise MusictextError(f"cannot open the library lock file: {reason}", path) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise LibraryBusyError(
                f"another musictext process (pid {holder}) is updating this library; wait for it, or pass --wait"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _lock_fd = fd
        yield
    finally:
        if _lock_fd == fd:
            _lock_fd = None
        os.close(fd)


def read_file_tags(path: str) -> dict:
    from musictext.tags.files import read_tags

    try:
        return read_tags(path)
    except TagReadError:
        return {}
    except Exception:
        return {}
