"""Find audio files under the folders a user names.

Extensions are matched case-insensitively, hidden files and folders are skipped, ``--exclude``
globs apply to the bare name, the path relative to the root and (globs starting with "/") the
absolute path; only regular files are analysed (a FIFO or device is reported), and symlinks are followed once:
a folder reached twice (a loop, or two links to one folder) is walked once, a file reached by two
names is indexed once, and a dangling or looping link is reported, not fatal.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

AUDIO_EXTENSIONS = frozenset(
    {
        ".mp3",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".m4a",
        ".m4b",
        ".mp4",
        ".aac",
        ".alac",
        ".wav",
        ".wave",
        ".aif",
        ".aiff",
        ".aifc",
        ".wv",
        ".ape",
        ".wma",
    }
)


@dataclass(frozen=True)
class TrackFile:
    path: str  # absolute, as found (symlinks kept in the name)
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScanProblem:
    path: str
    reason: str


def is_audio_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def is_under(path: str, roots: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one, compared as text (no file system access)."""
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _excluded(path: str, rel: str, name: str, is_dir: bool, excludes: list[str]) -> bool:
    """Whether ``--exclude`` globs match an entry, as a user reading the README expects.

    A relative glob is matched against the bare name and the path relative to the root, also
    with a leading "/" so that ``*/Podcasts/*`` matches a folder at the top of the root; a glob
    starting with "/" or "~" is matched against the absolute path. A folder is also tried with a
    trailing "/", so ``*/Podcasts/*`` and ``Podcasts/`` skip every folder named Podcasts without
    walking it.
    """
    for g in excludes:
        if g.startswith(("/", "~")):
            pattern = os.path.expanduser(g)
            candidates = [path, path + "/"] if is_dir else [path]
        else:
            pattern = g
            candidates = [name, rel, "/" + rel]
            if is_dir:
                candidates += [name + "/", rel + "/", "/" + rel + "/"]
        if any(fnmatch.fnmatch(c, pattern) for c in candidates):
            return True
    return False


def printable_path(path: str) -> str:
    """``path`` as text that can be stored and printed: undecodable bytes as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return kind
    return "not a plain file"


def scan(roots: list[Path], excludes: list[str] | None = None) -> Iterator[TrackFile | ScanProblem]:
    """Yield every audio file under ``roots`` (files named directly are taken as they are)."""
    excludes = excludes or []
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()

    def visit_file(path: str) -> TrackFile | ScanProblem | None:
        shown = printable_path(path)
        if shown != path:  # the store and the terminal hold text: such a name cannot be kept
            return ScanProblem(shown, "file name is not valid UTF-8 (rename the file to index it)")
        try:
            st = os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return ScanProblem(path, "symlink loop")
            if os.path.islink(path):
                return ScanProblem(path, "dangling symlink")
            return ScanProblem(path, exc.strerror or str(exc))
        if not stat.S_ISREG(st.st_mode):  # reading a FIFO or a device would block or never end
            return ScanProblem(path, f"only regular files are analysed; this is {_kind(st.st_mode)}")
        key = (st.st_dev, st.st_ino)
        if key in seen_files:
            return None
        seen_files.add(key)
        return TrackFile(path, st.st_size, st.st_mtime_ns)

    for root in roots:
        root_str = os.path.abspath(os.path.expanduser(str(root)))
        if os.path.isfile(root_str) or (os.path.islink(root_str) and not os.path.isdir(root_str)):
            result = visit_file(root_str)
            if result is not None:
                yield result
            continue
        if not os.path.isdir(root_str):
            yield ScanProblem(printable_path(root_str), "no such file or folder")
            continue
        stack = [root_str]
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(folder)
            except OSError as exc:
                yield ScanProblem(printable_path(folder), exc.strerror or str(exc))
                continue
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue  # a loop or a second link to a folder already walked
            seen_dirs.add((st.st_dev, st.st_ino))
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as exc:
                yield ScanProblem(printable_path(folder), f"cannot list folder: {exc.strerror or exc}")
                continue
            subdirs = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = os.path.relpath(entry.path, root_str)
                try:
                    is_dir = entry.is_dir(follow_symlinks=True)
                except OSError:
                    is_dir = False
                if _excluded(entry.path, rel, entry.name, is_dir, excludes):
                    continue
                if is_dir:
                    subdirs.append(entry.path)
                elif is_audio_name(entry.name):
                    result = visit_file(entry.path)
                    if result is not None:
                        yield result
            stack.extend(reversed(subdirs))
