"""`musictext index`: scan folders, embed new and changed tracks, recognise moves, prune, derive.

Safe to kill: work is committed in small batches (SQLite WAL), so a killed run loses at most the
batch in flight and a rerun carries on. One index run per library at a time (an exclusive lock).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from musictext.audio.ray_engine import RayOptions
from musictext.audio.tower import TrackFeatures, analyse_all
from musictext.config import DEFAULT_WINDOWS, db_path, index_dir
from musictext.errors import ModelError, NotFoundError, UsageError
from musictext.library import ann
from musictext.library.files import content_hash, library_lock, read_file_tags
from musictext.library.scan import ScanProblem, TrackFile, is_under, scan
from musictext.library.space import build_space, concepts_signature, save_space
from musictext.library.store import Store
from musictext.model.bundle import Bundle, get_bundle
from musictext.model.runtime import choose_device
from musictext.progress import Progress, SilentProgress

DEFAULT_BUDGET = DEFAULT_WINDOWS  # 3-second windows per track in sampled mode
ENGINES = ("local", "ray")
COMMIT_EVERY = 16
COMMIT_SECONDS = 5.0


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
    engine: str = "local"
    failed_before: int = 0  # of ``failed``: files that failed before and are unchanged (not retried)
    failed_before_reasons: tuple[tuple[str, int], ...] = ()  # (reason, how many), commonest first

    def as_json(self) -> dict:
        report = asdict(self)
        del report["failed_before_reasons"]
        return report


def _root_test(roots: list[str]):
    """A fast "is this path one of ``roots`` or inside one": a set lookup per parent folder, so a
    beets `mtindex` of 50k files as roots costs 50k lookups per track, not 50k comparisons."""
    tops = {r.rstrip("/") or "/" for r in roots}
    if len(tops) < 8:
        return lambda path: is_under(path, tops)

    def under(path: str) -> bool:
        while True:
            if path in tops:
                return True
            parent = os.path.dirname(path)
            if parent == path:
                return False
            path = parent

    return under


@dataclass
class _Plan:
    """What a scan found, sorted: files to analyse, tracks whose files are gone, and the counts."""

    todo: list[TrackFile]
    gone: dict[str, int]  # path -> track id: vanished from where they were (not moved)
    seen: set[str]  # every path the scan found or reported
    unchanged: int = 0
    moved: int = 0
    copied: int = 0
    failed: int = 0
    failed_before: Counter = field(default_factory=Counter)  # reason -> files failed before, unchanged


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
    announce_device: bool = False,
    engine: str = "local",
    ray: RayOptions | None = None,
) -> IndexReport:
    """Bring the library up to date with the files under ``roots``: scan, plan, prune, then
    analyse and store new and changed files in small batches. ``engine`` says where the analyse
    step runs (worker processes here, or a Ray cluster); everything else is the same for both."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    progress = progress or SilentProgress()
    t0 = time.perf_counter()
    root_strs = [os.path.abspath(os.path.expanduser(str(r))) for r in roots]
    for r in root_strs:
        if not os.path.exists(r):
            raise NotFoundError("no such file or folder", r)
    bundle = get_bundle(model)
    if not bundle.builtin:
        # A trained head projects its base model's features: index new files with the base model
        # (unchanged ones cost a scan), then re-project the stored features; no decoding twice.
        bundle.base_bundle()  # a missing base: one line, before the library is touched
        report = index_library(
            roots,
            excludes=excludes,
            budget=budget,
            device=device,
            jobs=jobs,
            prune=prune,
            wait=wait,
            model=bundle.base_name,
            progress=progress,
            announce_device=announce_device,
            engine=engine,
            ray=ray,
        )
        if bundle.manifest.get("kind") == "clap":  # its own audio tower: embed what the base indexed
            from musictext.library.clap import embed_library

            embed_library(bundle, device, budget, progress, refresh_derived)
        else:
            reproject(bundle, progress)
        return IndexReport(**{**report.as_json(), "wall_seconds": round(time.perf_counter() - t0, 2)})
    for role in dict.fromkeys(("audio", bundle.audio_role)):
        bundle.file(role)  # refuse an altered model (either audio graph) before touching the library
    choice = choose_device(device)
    if announce_device:
        progress.note(f"device: {choice.name} ({choice.note})")
    mode = "full" if budget is None else f"sampled:{budget}"
    mood = _mood_model(progress)
    if engine == "ray":
        from musictext.audio.ray_engine import analyse_on_ray, require

        require()
        options = ray or RayOptions()
        mood_id = mood.model_id if mood else None

        def analyser(paths: list[str]):
            return analyse_on_ray(bundle, device, budget, paths, jobs, options, mood_id)
    else:

        def analyser(paths: list[str]):
            return analyse_all(bundle, choice.providers, budget, paths, jobs, mood)

    with library_lock(wait), Store(db_path()) as store:
        plan = _plan(store, root_strs, excludes, bundle.model_id, mode, progress, mood.model_id if mood else None)
        removed = _prune(store, plan.gone, bundle.model_id) if prune else 0
        written, failed, audio_seconds = _analyse_and_store(store, bundle, analyser, plan, progress, mood)
        with store.batch():
            store.prune_errors(plan.seen, root_strs)  # errors of files that are gone
        refresh_derived(store, bundle)
    return IndexReport(
        indexed=plan.copied + written,
        unchanged=plan.unchanged,
        moved=plan.moved,
        removed=removed,
        failed=plan.failed + failed,
        audio_seconds=round(audio_seconds, 2),
        wall_seconds=round(time.perf_counter() - t0, 2),
        device=choice.name,
        engine=engine,
        failed_before=sum(plan.failed_before.values()),
        failed_before_reasons=tuple(plan.failed_before.most_common()),
    )


def _mood_model(progress: Progress):
    """The installed vibenet's network when its mood axes can be stored, else None (said once
    when vibenet is there but unusable)."""
    from musictext.audio.mood import find_mood_model

    model = find_mood_model()
    if model.problem:
        progress.note(f"mood axes skipped: {model.problem}")
    return model if model.available else None


def _scan(store: Store, root_strs: list[str], excludes: list[str] | None, progress: Progress) -> tuple[list, set, int]:
    """(files found, paths reported as problems, how many): a bad path is recorded, never fatal."""
    found: list[TrackFile] = []
    problems: set[str] = set()
    with store.batch():
        for item in scan([Path(r) for r in root_strs], excludes):
            if isinstance(item, ScanProblem):
                problems.add(item.path)
                progress.skip(item.path, item.reason)
                store.record_error(item.path, None, None, item.reason)
            else:
                found.append(item)
    return found, problems, len(problems)


def _plan(
    store: Store,
    root_strs: list[str],
    excludes: list[str] | None,
    audio_model: str,
    mode: str,
    progress: Progress,
    mood_model: str | None = None,
) -> _Plan:
    """Sort what the scan found: unchanged, touched, moved, copied (stored at once), failed
    before and unchanged (not retried), and the rest to analyse. With ``mood_model``, a track
    without its mood axes is not done yet (vibenet installed after it was indexed)."""

    def done(track_id: int) -> bool:
        return store.has_features(track_id, audio_model, mode) and (
            mood_model is None or store.has_mood(track_id, mood_model)
        )

    found, problems, failed = _scan(store, root_strs, excludes, progress)
    known = store.known_files()
    known_errors = store.known_errors()
    reasons: dict[str, str] | None = None  # read once, only when needed (10k failures: one query, not 10k)
    seen = {f.path for f in found}
    under = _root_test(root_strs)
    gone = {p: v[0] for p, v in known.items() if under(p) and p not in seen and not os.path.exists(p)}
    plan = _Plan(todo=[], gone=gone, seen=seen | problems, failed=failed)
    with store.batch():
        for f in found:
            k = known.get(f.path)
            if k and k[1] == f.size and k[2] == f.mtime_ns and done(k[0]):
                plan.unchanged += 1
                continue
            if known_errors.get(f.path) == (f.size, f.mtime_ns):
                if reasons is None:
                    reasons = dict(store.errors())
                plan.failed += 1
                plan.failed_before[reasons.get(f.path, "failed before")] += 1  # summarised in one line
                continue
            try:
                h = content_hash(f.path, f.size)
            except OSError as exc:
                plan.failed += 1
                progress.skip(f.path, exc.strerror or str(exc))
                store.record_error(f.path, f.size, f.mtime_ns, exc.strerror or str(exc))
                continue
            same = [t for t in store.tracks_by_hash(h) if done(t.id)]
            if k and any(t.id == k[0] for t in same):  # touched, not changed: same content
                store.touch_track(k[0], f.size, f.mtime_ns)
                plan.unchanged += 1
                continue
            moved_from = next((t for t in same if t.path in gone), None)
            if moved_from is not None and not k:
                store.move_track(moved_from.id, f.path, f.size, f.mtime_ns)
                del gone[moved_from.path]
                plan.moved += 1
                continue
            if same and not k:  # a copy of a track we know: reuse its features
                new_id = store.upsert_track(f.path, f.size, f.mtime_ns, h, same[0].duration, read_file_tags(f.path))
                store.copy_features(same[0].id, new_id)
                store.bump_generation(audio_model)
                plan.copied += 1
                continue
            plan.todo.append(f)  # new, changed, or analysed before in a lesser mode
    return plan


def _prune(store: Store, gone: dict[str, int], audio_model: str) -> int:
    """Forget the tracks whose files are gone; returns how many."""
    if not gone:
        return 0
    with store.batch():
        removed = store.remove_tracks(gone.values())
        store.bump_generation(audio_model)
    return removed


class _BatchWriter:
    """Stores analysed tracks in small transactions (every COMMIT_EVERY tracks or COMMIT_SECONDS),
    so a killed run loses at most one batch."""

    def __init__(self, store: Store, bundle: Bundle, progress: Progress, mood_model: str | None = None):
        self.store, self.bundle, self.progress = store, bundle, progress
        self.mood_model = mood_model
        self.pending: list[tuple[TrackFile, TrackFeatures]] = []
        self.last_commit = time.monotonic()
        self.text = None
        self.written = 0
        self.failed = 0

    def add(self, f: TrackFile, feats: TrackFeatures) -> None:
        self.pending.append((f, feats))
        if len(self.pending) >= COMMIT_EVERY or time.monotonic() - self.last_commit > COMMIT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        from musictext.model.textspace import joint_vectors, text_side

        if self.text is None:
            self.text = text_side(self.bundle).tag_embeddings()
        store, audio_model = self.store, self.bundle.model_id
        with store.batch():
            for f, feats in self.pending:
                try:
                    h = content_hash(f.path, f.size)
                except OSError as exc:  # gone or unreadable since it was analysed: not indexed
                    reason = exc.strerror or str(exc)
                    self.failed += 1
                    self.progress.skip(f.path, reason)
                    store.record_error(f.path, f.size, f.mtime_ns, reason)
                    continue
                tid = store.upsert_track(f.path, f.size, f.mtime_ns, h, feats.duration, read_file_tags(f.path))
                store.put_features(tid, audio_model, feats.as_store_dict())
                store.put_vector(tid, self.bundle.model_id, joint_vectors(feats.probs[None], self.text)[0])
                if self.mood_model:  # a row even when too short to judge (NULLs): not retried every run
                    store.put_mood(tid, self.mood_model, feats.mood or {})
                store.clear_error(f.path)
                self.written += 1
            store.bump_generation(audio_model)
        self.pending = []
        self.last_commit = time.monotonic()


Analyser = Callable[[list[str]], Iterator[tuple[str, TrackFeatures | None, str | None]]]


def _analyse_and_store(
    store: Store, bundle: Bundle, analyser: Analyser, plan: _Plan, progress: Progress, mood=None
) -> tuple[int, int, float]:
    """Analyse the plan's files with ``analyser`` (the engine's one step: worker processes here, or
    Ray actors) and store them as they come; (stored, failed, audio seconds)."""
    progress.start(len(plan.todo))
    if not plan.todo:
        return 0, 0, 0.0
    writer = _BatchWriter(store, bundle, progress, mood.model_id if mood else None)
    failed, audio_seconds = 0, 0.0
    by_path = {f.path: f for f in plan.todo}
    # closing(): a failed write stops the workers at once, not whenever the generator is collected
    with closing(analyser(list(by_path))) as results:
        for path, feats, reason in results:
            f = by_path[path]
            if feats is None:
                failed += 1
                progress.skip(path, reason or "unknown error")
                with store.batch():
                    store.record_error(path, f.size, f.mtime_ns, reason or "unknown error")
                progress.advance(path, 0.0)
                continue
            audio_seconds += feats.duration
            writer.add(f, feats)
            progress.advance(path, feats.duration)
    writer.flush()
    return writer.written, failed + writer.failed, audio_seconds


def refresh_derived(store: Store, bundle: Bundle) -> None:
    """Rebuild the cached space and the HNSW index from the store when they are stale."""
    generation = store.generation(bundle.model_id)
    space = build_space(store, bundle, bundle.base or bundle.model_id)
    save_space(space, index_dir(create=True), generation, concepts_signature(bundle))
    if len(space):
        ann.ensure(index_dir(create=True), bundle.model_id, generation, space.ids, space.joint)


def reproject(bundle: Bundle, progress: Progress) -> int:
    """Store joint vectors of every track indexed with ``bundle``'s base model under ``bundle``
    (a trained head); returns how many tracks were re-projected."""
    from musictext.model.heads import project_features

    if not bundle.base:
        raise ModelError(f"bundle {bundle.name} names no base model", bundle.path)
    base = bundle.base_bundle()
    if base.model_id != bundle.base:
        raise ModelError(
            f"{bundle.name} was trained on features of {bundle.base}, but {base.model_id} is installed:"
            " retrain it with `musictext train`",
            bundle.path,
        )
    bundle.file("head")  # refuse an altered head before touching the library
    with library_lock(), Store(db_path()) as store:
        ids, probs, pooled, desc = store.features_matrix(bundle.base)
        if not len(ids):
            raise NotFoundError(f"no track is indexed with {base.name} yet: run `musictext index PATH` first")
        progress.note(f"re-projecting {len(ids)} stored track(s) with {bundle.name} (no decoding)")
        vectors = project_features(bundle, probs, pooled, desc)
        with store.batch():
            known = set(store.vectors(bundle.model_id)[0].tolist())
            stale = known - set(ids.tolist())
            store.delete_vectors(bundle.model_id, stale)
            for tid, vec in zip(ids, vectors):
                store.put_vector(int(tid), bundle.model_id, vec)
            store.bump_generation(bundle.model_id)
        refresh_derived(store, bundle)
    return len(ids)


def _refresh_derived(store, bundle: Bundle) -> None:
    from musictext.library.index import refresh_derived

    refresh_derived(store, bundle)
