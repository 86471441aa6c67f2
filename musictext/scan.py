"""Find audio files under the folders a user names.

Extensions are matched case-insensitively, hidden files and folders are skipped, ``--exclude``
globs apply to the path relative to the root and to the bare name, and symlinks are followed once:
a folder reached twice (a loop, or two links to one folder) is walked once, a file reached by two
names is indexed once, and a dangling or looping link is reported, not fatal.
"""

from __future__ import annotations

import errno
import fnmatch
import os
from collections.abc import Iterator
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


def _excluded(rel: str, name: str, excludes: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(name, g) for g in excludes)


def scan(roots: list[Path], excludes: list[str] | None = None) -> Iterator[TrackFile | ScanProblem]:
    """Yield every audio file under ``roots`` (files named directly are taken as they are)."""
    excludes = excludes or []
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()

    def visit_file(path: str) -> TrackFile | ScanProblem | None:
        try:
            st = os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return ScanProblem(path, "symlink loop")
            if os.path.islink(path):
                return ScanProblem(path, "dangling symlink")
            return ScanProblem(path, exc.strerror or str(exc))
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
            yield ScanProblem(root_str, "no such file or folder")
            continue
        stack = [root_str]
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(folder)
            except OSError as exc:
                yield ScanProblem(folder, exc.strerror or str(exc))
                continue
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue  # a loop or a second link to a folder already walked
            seen_dirs.add((st.st_dev, st.st_ino))
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as exc:
                yield ScanProblem(folder, f"cannot list folder: {exc.strerror or exc}")
                continue
            subdirs = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = os.path.relpath(entry.path, root_str)
                if _excluded(rel, entry.name, excludes):
                    continue
                try:
                    is_dir = entry.is_dir(follow_symlinks=True)
                except OSError:
                    is_dir = False
                if is_dir:
                    subdirs.append(entry.path)
                elif is_audio_name(entry.name):
                    result = visit_file(entry.path)
                    if result is not None:
                        yield result
            stack.extend(reversed(subdirs))
