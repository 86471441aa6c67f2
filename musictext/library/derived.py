"""Checksums of the files derived from the store (cached space arrays, HNSW graphs).

Each derived file is recorded, when written, with its sha256 and its stamp (size, mtime, ctime,
inode, device). A later read trusts an unchanged stamp without hashing once the file has been
hashed and found good at least RACY_SECONDS after its last change; a changed stamp, or a file too
fresh to trust, is hashed. A file that does not match is not used: the caller rebuilds it from
the store. The record (and the json holding it) carries its own digest, so editing a number in it
is caught too.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from musictext.atomic import atomic_write
from musictext.model.bundle import RACY_SECONDS, file_stamp, sha256_file


def record(path: Path) -> dict:
    """What a derived file is checked against later: its sha256 and its stamp now."""
    return {"sha256": sha256_file(path), "stamp": file_stamp(path.stat()), "confirmed": False}


def check(path: Path, rec: dict, force: bool = False) -> bool:
    """Whether ``path`` still holds what ``rec`` recorded. May set ``rec["confirmed"]`` (the caller
    then saves the record), so the next read needs no hash."""
    try:
        st = path.stat()
    except OSError:
        return False
    stamp = file_stamp(st)
    if not force and rec.get("confirmed") and stamp == rec.get("stamp"):
        return True
    if sha256_file(path) != rec.get("sha256"):
        return False
    if stamp == rec.get("stamp") and time.time() - st.st_ctime_ns / 1e9 >= RACY_SECONDS:
        rec["confirmed"] = True
    return True


def digest(meta: dict) -> str:
    """sha256 of a json record without its own "digest" field (keys sorted)."""
    body = {k: v for k, v in meta.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_meta(path: Path) -> dict | None:
    """A derived file's json record, or None when it is missing, unreadable or edited."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("digest") != digest(meta):
        return None
    return meta


def unusable_reason(path: Path) -> str:
    """Why read_meta refused ``path``: "stale" for a record written before records carried a digest
    (an older musictext), "damaged" for anything else (unreadable, or edited)."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return "damaged"
    return "stale" if isinstance(meta, dict) and "digest" not in meta and "files" not in meta else "damaged"


def write_meta(path: Path, meta: dict) -> None:
    """Write a json record with its digest, atomically (beside, then rename)."""
    meta = {k: v for k, v in meta.items() if k != "digest"}
    meta["digest"] = digest(meta)
    atomic_write(path, json.dumps(meta))
