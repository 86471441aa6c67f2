"""`musictext index`: scan folders, embed new and changed tracks, recognise moves, prune, derive.

Safe to kill: work is committed in small batches (SQLite WAL), so a killed run loses at most the
batch in flight and a rerun carries on. One index run per library at a time (an exclusive lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from musictext import ann
from musictext.bundle import Bundle, get_bundle
from musictext.config import db_path, home, index_dir
from musictext.embed import AudioTower, TrackFeatures, worker_analyse, worker_init
from musictext.errors import LibraryBusyError, MusictextError, NotFoundError, TagReadError
from musictext.runtime import choose_device
from musictext.scan import ScanProblem, TrackFile, scan
from musictext.space import build_space, concepts_signature, save_space
from musictext.store import Store

DEFAULT_BUDGET = 8  # 3-second windows per track in sampled mode (chosen by measurement, see benchmarks/)
COMMIT_EVERY = 16
COMMIT_SECONDS = 5.0
HASH_BLOCK = 1 << 16


@dataclass(frozen=True)
class IndexReport:
    indexed: int
    unchanged: int
    moved: int
    removed: int
    failed: int
    audio_seconds: float
    wall_seconds: float
    device: str = "cpu"

    def as_json(self) -> dict:
        return asdict(self)


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, path: str, audio_seconds: float) -> None: ...
    def skip(self, path: str, reason: str) -> None: ...
    def note(self, message: str) -> None: ...


class SilentProgress:
    def start(self, total: int) -> None: ...
    def advance(self, path: str, audio_seconds: float) -> None: ...
    def skip(self, path: str, reason: str) -> None: ...
    def note(self, message: str) -> None: ...


def content_hash(path: str, size: int) -> str:
    """sha256 of the size and three 64 KiB samples (head, middle, tail): cheap on huge files,
    and enough to recognise a moved or renamed file."""
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        for offset in sorted({0, max(0, size // 2 - HASH_BLOCK // 2), max(0, size - HASH_BLOCK)}):
            fh.seek(offset)
            digest.update(fh.read(HASH_BLOCK))
    return digest.hexdigest()


@contextmanager
def library_lock(wait: bool = False) -> Iterator[None]:
    """Exclusive lock on the library for writers; a second writer waits or exits with a message."""
    path = home() / "index.lock"
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise LibraryBusyError(
                f"another musictext process (pid {holder}) is updating this library; "
                "wait for it, or pass --wait"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


def read_file_tags(path: str) -> dict:
    from musictext.tagfiles import read_tags

    try:
        return read_tags(path)
    except TagReadError:
        return {}
    except Exception:
        return {}


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def index_library(
    roots: list[Path],
    *,
    excludes: list[str] | None = None,
    budget: int | None = DEFAULT_BUDGET,
    device: str = "auto",
    jobs: int | None = None,
    prune: bool = True,
    wait: bool = False,
    model: str | None = None,
    progress: Progress | None = None,
) -> IndexReport:
    progress = progress or SilentProgress()
    t0 = time.perf_counter()
    bundle = get_bundle(model)
    if not bundle.builtin:
        # A trained head projects its base model's features: index new files with the base model
        # (unchanged ones cost a scan), then re-project the stored features; no decoding twice.
        from musictext.train.project import reproject

        report = index_library(roots, excludes=excludes, budget=budget, device=device, jobs=jobs, prune=prune,
                               wait=wait, model=bundle.base.split("@")[0] if bundle.base else None,
                               progress=progress)
        reproject(bundle, progress)
        return IndexReport(**{**report.as_json(), "wall_seconds": round(time.perf_counter() - t0, 2)})
    bundle.file("audio")  # refuse an altered model before touching the library
    choice = choose_device(device)
    progress.note(f"device: {choice.name} ({choice.note})")
    audio_model = bundle.model_id
    mode = "full" if budget is None else f"sampled:{budget}"
    root_strs = [os.path.abspath(os.path.expanduser(str(r))) for r in roots]
    for r in root_strs:
        if not os.path.exists(r):
            raise NotFoundError("no such file or folder", r)

    with library_lock(wait), Store(db_path()) as store:
        found: list[TrackFile] = []
        problems: set[str] = set()
        failed = 0
        for item in scan([Path(r) for r in root_strs], excludes):
            if isinstance(item, ScanProblem):
                failed += 1
                problems.add(item.path)
                progress.skip(item.path, item.reason)
                store.record_error(item.path, None, None, item.reason)
            else:
                found.append(item)
        known = store.known_files()
        known_errors = store.known_errors()
        seen = {f.path for f in found}

        todo: list[TrackFile] = []
        unchanged = moved = indexed_copies = 0
        # Tracks that vanished from where they were: candidates for a move, else pruned.
        gone = {
            p: v[0]
            for p, v in known.items()
            if _under(p, root_strs) and p not in seen and not os.path.exists(p)
        }
        with store.batch():
            for f in found:
                k = known.get(f.path)
                if (
                    k
                    and k[1] == f.size
                    and k[2] == f.mtime_ns
                    and store.has_features(k[0], audio_model, mode)
                ):
                    unchanged += 1
                    continue
                if known_errors.get(f.path) == (f.size, f.mtime_ns):
                    failed += 1
                    reason = dict(store.errors()).get(f.path, "failed before")
                    progress.skip(f.path, f"{reason} (unchanged since the last run)")
                    continue
                try:
                    h = content_hash(f.path, f.size)
                except OSError as exc:
                    failed += 1
                    progress.skip(f.path, exc.strerror or str(exc))
                    store.record_error(f.path, f.size, f.mtime_ns, exc.strerror or str(exc))
                    continue
                same = [t for t in store.tracks_by_hash(h) if store.has_features(t.id, audio_model, mode)]
                if k and any(t.id == k[0] for t in same):  # touched, not changed: same content
                    store.touch_track(k[0], f.size, f.mtime_ns)
                    unchanged += 1
                    continue
                moved_from = next((t for t in same if t.path in gone), None)
                if moved_from is not None and not k:
                    store.move_track(moved_from.id, f.path, f.size, f.mtime_ns)
                    del gone[moved_from.path]
                    moved += 1
                    continue
                if same and not k:  # a copy of a track we know: reuse its features
                    new_id = store.upsert_track(
                        f.path, f.size, f.mtime_ns, h, same[0].duration, read_file_tags(f.path)
                    )
                    store.copy_features(same[0].id, new_id)
                    store.bump_generation(audio_model)
                    indexed_copies += 1
                    continue
                todo.append(f)  # new, changed, or analysed before in a lesser mode

        removed = 0
        if prune and gone:
            with store.batch():
                removed = store.remove_tracks(gone.values())
                store.bump_generation(audio_model)

        progress.start(len(todo))
        indexed, audio_seconds = indexed_copies, 0.0
        if todo:
            text = None
            pending: list[tuple[TrackFile, TrackFeatures]] = []
            last_commit = time.monotonic()

            def flush() -> None:
                nonlocal text, pending, last_commit
                if not pending:
                    return
                from musictext.textspace import joint_vectors, text_side

                if text is None:
                    text = text_side(bundle).tag_embeddings()
                with store.batch():
                    for f, feats in pending:
                        try:
                            h = content_hash(f.path, f.size)
                        except OSError:
                            continue
                        tid = store.upsert_track(
                            f.path, f.size, f.mtime_ns, h, feats.duration, read_file_tags(f.path)
                        )
                        store.put_features(tid, audio_model, feats.as_store_dict())
                        store.put_vector(tid, bundle.model_id, joint_vectors(feats.probs[None], text)[0])
                        store.clear_error(f.path)
                    store.bump_generation(audio_model)
                pending = []
                last_commit = time.monotonic()

            by_path = {f.path: f for f in todo}
            for path, feats, reason in _analyse_all(bundle, choice.providers, budget, todo, jobs):
                f = by_path[path]
                if feats is None:
                    failed += 1
                    progress.skip(path, reason or "unknown error")
                    with store.batch():
                        store.record_error(path, f.size, f.mtime_ns, reason or "unknown error")
                    progress.advance(path, 0.0)
                    continue
                indexed += 1
                audio_seconds += feats.duration
                pending.append((f, feats))
                progress.advance(path, feats.duration)
                if len(pending) >= COMMIT_EVERY or time.monotonic() - last_commit > COMMIT_SECONDS:
                    flush()
            flush()

        with store.batch():
            store.prune_errors(seen | problems, root_strs)  # errors of files that are gone
        refresh_derived(store, bundle)
    return IndexReport(
        indexed,
        unchanged,
        moved,
        removed,
        failed,
        round(audio_seconds, 2),
        round(time.perf_counter() - t0, 2),
        choice.name,
    )


def refresh_derived(store: Store, bundle: Bundle) -> None:
    """Rebuild the cached space and the HNSW index from the store when they are stale."""
    generation = store.generation(bundle.model_id)
    space = build_space(store, bundle, bundle.base or bundle.model_id)
    save_space(space, index_dir(), generation, concepts_signature(bundle))
    if len(space):
        ann.ensure(index_dir(), bundle.model_id, generation, space.ids, space.joint)


def _analyse_all(
    bundle: Bundle, providers: tuple[str, ...], budget: int | None, todo: list[TrackFile], jobs: int | None
) -> Iterator[tuple[str, TrackFeatures | None, str | None]]:
    """Analyse files in worker processes (one single-threaded session each), or in-process."""
    jobs = jobs or os.cpu_count() or 1
    jobs = max(1, min(jobs, len(todo)))
    paths = [f.path for f in todo]
    if jobs == 1:
        worker_init(bundle, providers, min(2, os.cpu_count() or 1), budget)
        for p in paths:
            yield worker_analyse(p)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(jobs, initializer=worker_init, initargs=(bundle, providers, 1, budget)) as pool:
        yield from pool.imap_unordered(worker_analyse, paths, chunksize=1)


def analyse_one(path: str, bundle: Bundle, budget: int | None = DEFAULT_BUDGET) -> TrackFeatures:
    """Features of one file outside the library (``similar`` and playlist seeds)."""
    from musictext.embed import analyse

    tower = AudioTower(bundle, choose_device("auto").providers, threads=min(2, os.cpu_count() or 1))
    try:
        return analyse(path, tower, budget)
    except MusictextError:
        raise
    except Exception as exc:
        raise MusictextError(f"cannot analyse ({exc})", path) from exc
