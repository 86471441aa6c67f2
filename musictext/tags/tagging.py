"""`musictext tag`: score a vocabulary against the library, choose tags, write them safely.

A term is given to a track only with absolute evidence (musictext.evidence): the tagger's
probability, a learned probe's calibrated probability, or a measured descriptor past its bound,
at least ``threshold`` (0.5). ``--top-k`` caps how many terms a track gets; it is not a quota, so a
track may get none. Opposite terms (a vocal tag on a track the model hears as instrumental) need
more evidence than their opposite, and a track gets at most one decade. The library-relative view
(Φ of the z-score of the search score: 0.9 means "in the top tenth of this library") breaks ties,
and with ``relative=True`` it is the score, as before evidence existed: top-k by rank.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from musictext.config import db_path
from musictext.errors import MusictextError, NotFoundError, TagWriteError, UsageError, read_user_text
from musictext.library.scan import is_under
from musictext.library.store import Store

BUILTIN_VOCABS = ("genres", "moods", "instruments", "eras")
DEFAULT_FIELD = "genre"


@dataclass(frozen=True)
class VocabTerm:
    term: str
    prompt: str
    field: str


def load_vocab(spec: str, default_field: str = DEFAULT_FIELD) -> list[VocabTerm]:
    """Read a vocabulary: a built-in name or a file (one term a line, `term = prompt`, [field] sections).

    Only fields that describe the music may be written (see ``fields.describing_field``): a section
    naming another field (``[title]``, ``[replaygain_track_gain]``) is a usage error.
    """
    from musictext.tags.fields import describing_field

    if spec in BUILTIN_VOCABS:
        text = resources.files("musictext.vocab").joinpath(f"{spec}.txt").read_text(encoding="utf-8")
    else:
        text = read_user_text(spec, "vocabulary")
    check_field(default_field, "--field")
    terms: list[VocabTerm] = []
    current = default_field
    seen: set[tuple[str, str]] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("[") != line.endswith("]"):
            raise UsageError(f"{spec}, line {number}: {line!r} is not a [section] (a bracket is missing)")
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip().lower() or default_field
            if not describing_field(current):
                raise UsageError(f"{spec}, line {number}: [{current}] {_NOT_WRITABLE}")
            continue
        term, _, prompt = (p.strip() for p in line.partition("="))
        if term and (term.lower(), current) not in seen:
            seen.add((term.lower(), current))
            terms.append(VocabTerm(term, prompt or term, current))
    if not terms:
        raise MusictextError(f"vocabulary {spec!r} has no terms")
    return terms


_NOT_WRITABLE = (
    "is not a field musictext writes: use genre, mood, grouping, comment or a custom field such as [instrument]"
)


def check_field(name: str, what: str) -> None:
    """Refuse (usage error) a field, or a --field-name tag name, that is not a description."""
    from musictext.tags.fields import describing_field

    if not describing_field(name):
        raise UsageError(f"{what} {name!r} {_NOT_WRITABLE}")


def phi(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF: a z-score as the share of the library it stands above."""
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(z, np.float64) / math.sqrt(2.0)))


@dataclass
class TrackTags:
    track_id: int
    path: str
    chosen: list[tuple[str, str, float]]  # (term, field, score: evidence, or the relative score)
    scores: dict[str, float] = field(default_factory=dict)
    relative: dict[str, float] = field(default_factory=dict)  # Φ(z) of every term, for ties and --relative


@dataclass
class TagScores:
    terms: list[VocabTerm]
    tracks: list[TrackTags]
    warnings: list[str]
    unmapped: list[str] = field(default_factory=list)  # terms with no evidence in the model: never written
    relative: bool = False

    @property
    def untagged(self) -> int:
        """How many tracks got no term."""
        return sum(not t.chosen for t in self.tracks)


def score_vocab(
    vocab: list[VocabTerm],
    paths: list[str] | None = None,
    where: list[str] | None = None,
    model: str | None = None,
    top_k: int | None = 3,
    threshold: float | None = None,
    min_margin: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    relative: bool = False,
    lib=None,
) -> TagScores:
    """Every term's score for every selected track, and the terms chosen for each (see the module
    docstring); ``progress(done, total)`` is called after each term (a large vocabulary takes minutes).
    ``lib``: a library already open (left open)."""
    from musictext.evidence import EVIDENCE_THRESHOLD, TrackEvidence
    from musictext.library.view import Library
    from musictext.query import parse_terms

    own = lib is None
    lib = Library(model) if own else lib
    try:
        rows = lib.rows_for(where)
        if paths:
            wanted = _track_ids_under(lib.store, paths)
            keep = [i for i in (range(len(lib.space)) if rows is None else rows) if int(lib.space.ids[i]) in wanted]
            rows = np.array(keep, dtype=np.int64)
        selected = np.arange(len(lib.space)) if rows is None else rows
        if len(selected) == 0:
            raise NotFoundError("no indexed track matches the given paths or filters")
        calibrated = np.zeros((len(vocab), len(selected)))
        evidence = np.full((len(vocab), len(selected)), np.nan)
        sides: list[frozenset[str]] = []
        decade: list[frozenset[str] | None] = []
        warnings: list[str] = []
        unmapped: list[str] = []
        table = None if relative else TrackEvidence(lib)
        for j, term in enumerate(vocab):
            raw, outcome, _ = lib.text_scores(term.prompt, None)  # the whole library is the reference
            z = (raw - raw.mean()) / max(float(raw.std()), 1e-9)
            calibrated[j] = phi(z[selected])
            warnings += [f"{term.term}: {w}" for w in outcome.warnings]
            if table is not None:
                found, asserted = table.plans([lib.matcher.plan(t) for t in parse_terms(term.prompt)])
                if found is None:
                    unmapped.append(term.term)
                else:
                    evidence[j] = found[selected]
                sides.append(_opposite_side(asserted))
                decade.append(_exclusive_group(asserted))
            if progress is not None:
                progress(j + 1, len(vocab))
        if unmapped:
            warnings.append(
                f"no evidence in the model for {', '.join(map(repr, unmapped))}: never written"
                " (give a prompt the model knows, `term = prompt`, or see `musictext models --concepts`)"
            )
        opposite_evidence = {side: table.side(side) for side in set(sides) if side} if table is not None else {}
        tracks = lib.store.tracks([int(lib.space.ids[i]) for i in selected])
        out = []
        for col, row in enumerate(selected):
            tid = int(lib.space.ids[row])
            rel = calibrated[:, col]
            if table is None:
                picked = _pick_relative(rel, top_k, threshold, min_margin)
                shown = rel
            else:
                ev = evidence[:, col]
                floor = EVIDENCE_THRESHOLD if threshold is None else threshold
                against = {s: (None if e is None else float(e[row])) for s, e in opposite_evidence.items()}
                picked = _pick_evidence(ev, rel, sides, decade, against, top_k, floor, min_margin)
                shown = ev
            chosen = [(vocab[j].term, vocab[j].field, round(float(shown[j]), 4)) for j in picked]
            scores = {vocab[j].term: round(float(shown[j]), 4) for j in range(len(vocab)) if np.isfinite(shown[j])}
            relative_scores = {vocab[j].term: round(float(rel[j]), 4) for j in range(len(vocab))}
            out.append(TrackTags(tid, tracks[tid].path, chosen, scores, relative_scores))
        return TagScores(vocab, out, warnings, unmapped, relative)
    finally:
        if own:
            lib.close()


def _opposite_side(asserted: set[str]) -> frozenset[str]:
    from musictext.evidence import opposite_side

    return opposite_side(asserted)


def _exclusive_group(asserted: set[str]) -> frozenset[str] | None:
    from musictext.evidence import EXCLUSIVE

    return next((g for g in EXCLUSIVE if asserted and asserted <= g), None)


def _pick_relative(s: np.ndarray, top_k: int | None, threshold: float | None, min_margin: float) -> list[int]:
    """--relative: the top-k terms by library-relative score (a quota), then the threshold and margin."""
    order = np.argsort(-s, kind="stable")
    picked = list(order[:top_k] if top_k else order)
    if threshold is not None:
        picked = [j for j in picked if s[j] >= threshold]
    if min_margin and picked:
        unpicked = [j for j in order if j not in set(picked)]
        runner_up = s[unpicked[0]] if unpicked else 0.0
        picked = [j for j in picked if s[j] - runner_up >= min_margin]
    return picked


def _pick_evidence(ev, rel, sides, decade, against, top_k, floor, min_margin) -> list[int]:
    """Terms with evidence of at least ``floor``, strongest first (ties: the library-relative score),
    none whose opposite has as much evidence, one per exclusive group, at most ``top_k``."""
    ok = [j for j in range(len(ev)) if np.isfinite(ev[j]) and ev[j] >= floor]
    ok.sort(key=lambda j: (-round(float(ev[j]), 2), -float(rel[j])))
    picked: list[int] = []
    groups: set[frozenset[str]] = set()
    for j in ok:
        contrary = against.get(sides[j]) if sides[j] else None
        if contrary is not None and contrary >= ev[j]:
            continue
        if decade[j] is not None:
            if decade[j] in groups:
                continue
            groups.add(decade[j])
        picked.append(j)
    if min_margin and picked:
        rest = [float(ev[j]) for j in range(len(ev)) if j not in picked and np.isfinite(ev[j])]
        runner_up = max(rest, default=0.0)
        picked = [j for j in picked if ev[j] - runner_up >= min_margin]
    return picked[:top_k] if top_k else picked


def _track_ids_under(store: Store, paths: list[str]) -> set[int]:
    prefixes = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    return {tid for tid, t in store.tracks().items() if is_under(t.path, prefixes)}


# Writing ------------------------------------------------------------------------------------------
@dataclass
class WriteOutcome:
    path: str
    before: dict[str, list[str]]
    after: dict[str, list[str]]
    status: str  # "written", "unchanged", "would change", "failed", "restored", "reverted", "removed leftover"
    reason: str = ""


def plan_and_write(
    result: TagScores,
    *,
    write: bool,
    mode: str = "add",
    field_map: dict[str, str] | None = None,
    touch: bool = False,
    command: str = "",
    wait: bool = False,
) -> tuple[int | None, list[WriteOutcome]]:
    """Dry-run (write=False) or journal-then-write every track's chosen tags; (run id, outcomes).

    A write holds the library's writer lock, first removes temporary files killed writes left,
    and skips (with a reason) a file whose real location is outside the library's folders.
    """
    from musictext.library.files import library_lock
    from musictext.tags import files as tagfiles

    for name in (field_map or {}).values():
        check_field(name, "--field-name")
    outcomes: list[WriteOutcome] = []
    run_id = None
    with library_lock(wait) if write else nullcontext(), Store(db_path()) as store:
        if write:
            outcomes += _remove_leftovers(store)
            run_id = store.start_run("tag", command)
        folders = _library_folders(store)
        for track in result.tracks:
            fields: dict[str, list[str]] = {}
            for term, fld, _ in track.chosen:
                fields.setdefault(fld, []).append(term)
            if not fields:
                continue
            try:
                _check_inside(track.path, folders)
                change = tagfiles.plan_write(track.path, fields, mode, field_map=field_map)
            except MusictextError as exc:
                outcomes.append(WriteOutcome(track.path, {}, {}, "failed", exc.message))
                continue
            if not change.changed:
                outcomes.append(WriteOutcome(track.path, change.before, change.after, "unchanged"))
                continue
            if not write:
                outcomes.append(WriteOutcome(track.path, change.before, change.after, "would change"))
                continue
            outcomes.append(_write_one(store, run_id, track, change, field_map, touch))
        if run_id is not None:
            store.finish_run(run_id)
    return run_id, outcomes


def _write_one(store: Store, run_id: int, track: TrackTags, change, field_map, touch: bool) -> WriteOutcome:
    """Snapshot (proven restorable), journal, write, then mark the entry done."""
    from musictext.tags import files as tagfiles

    entry = None
    try:
        snap = tagfiles.snapshot(track.path)
        written = {"field_map": field_map or {}, "before_all": tagfiles.read_tags(track.path, field_map)}
        entry = store.journal_planned(run_id, track.path, change.before, change.after, snap, written)
        tagfiles.write(track.path, change, field_map=field_map, keep_mtime=not touch, undo=snap)
        written["after_all"] = tagfiles.read_tags(track.path, field_map)
        written["after_fingerprint"] = tagfiles.tag_fingerprint(track.path)
    except MusictextError as exc:
        if entry is not None:
            with store.batch():
                store.set_journal_state(entry, "failed")
        return WriteOutcome(track.path, change.before, change.after, "failed", exc.message)
    with store.batch():
        store.set_journal_state(entry, "done", written)
        _refresh_track(store, track.track_id, track.path)
    return WriteOutcome(track.path, change.before, change.after, "written")


def _library_folders(store: Store) -> list[str]:
    """The real folders that hold indexed tracks: a tag write never lands outside them."""
    folders = set()
    for t in store.tracks().values():
        folder = os.path.dirname(t.path)
        folders.add(folder)
        folders.add(os.path.realpath(folder))
    return sorted(folders)


def _check_inside(path: str, folders: list[str]) -> None:
    target = os.path.realpath(path)
    if not any(target.startswith(f.rstrip("/") + "/") for f in folders):
        raise TagWriteError(f"leads to {target}, outside the library's folders; not written", path)


def _remove_leftovers(store: Store) -> list[WriteOutcome]:
    """Delete the temporary files (``.NAME.*.musictext-tmp``) killed writes left in the library's folders."""
    from musictext.tags import files as tagfiles

    removed = []
    for folder in _library_folders(store):
        removed += tagfiles.remove_leftovers(folder)
    return [WriteOutcome(str(p), {}, {}, "removed leftover") for p in dict.fromkeys(removed)]


def repair() -> list[str]:
    """`status --repair`: remove leftover temporary files of killed tag writes (under the writer lock)."""
    from musictext.library.files import library_lock

    with library_lock(), Store(db_path()) as store:
        return [o.path for o in _remove_leftovers(store)]


def _refresh_track(store: Store, track_id: int, path: str) -> None:
    """After a tag write: new size/mtime/hash and tags, so `index` does not re-analyse the track."""
    from musictext.library.files import content_hash, read_file_tags

    st = os.stat(path)
    store.touch_track(track_id, st.st_size, st.st_mtime_ns, content_hash(path, st.st_size))
    store.update_tags(track_id, read_file_tags(path))


@dataclass(frozen=True)
class RunInfo:
    id: int
    started: float
    finished: float | None
    undone: float | None
    files: int
    args: str

    @property
    def state(self) -> str:
        return "undone" if self.undone else ("done" if self.finished else "interrupted")


def history() -> list[RunInfo]:
    with Store(db_path(), readonly=True) as store:
        return [RunInfo(r.id, r.started, r.finished, r.undone, r.files, r.args) for r in store.runs("tag")]


def undo(
    run: str = "last", touch: bool = False, force: bool = False, wait: bool = False
) -> tuple[int, list[WriteOutcome]]:
    """Undo a tag run, newest change first, without losing anyone else's edits.

    A file whose tags are still exactly what the run left is restored byte for byte from its
    snapshot. A file edited since (by another program, or a later run) gets back only the fields
    this run wrote, the other edits kept; if a field this run wrote was itself changed since, the
    file is not touched and the reason names what changed (and the later run, if one did it), unless
    ``force`` restores the snapshot anyway. So undoing runs out of order composes field by field,
    and is refused only where two runs wrote the same field of the same file.
    """
    from musictext.library.files import library_lock

    with library_lock(wait), Store(db_path()) as store:
        outcomes = _remove_leftovers(store)
        if run == "last":
            run_id = store.last_live_run("tag")
            if run_id is None:
                raise NotFoundError("no tag run to undo")
        else:
            try:
                run_id = int(run)
            except ValueError:
                raise UsageError(f"--undo takes a run number from --history, not {run!r}") from None
            row = store.run(run_id, "tag")
            if row is None:
                raise NotFoundError(f"no tag run {run_id} (see musictext tag --history)")
            if row.undone is not None:
                raise MusictextError(f"tag run {run_id} was already undone")
        later = store.later_live_writes(run_id, "tag")
        for entry in store.journal_entries(run_id, ("done", "planned")):
            outcome = _undo_one(store, entry, later.get(entry.path), touch, force)
            if outcome is not None:
                outcomes.append(outcome)
        if not any(o.status == "failed" for o in outcomes):
            store.mark_run_undone(run_id)
    return run_id, outcomes


def _undo_one(store: Store, entry, later_run: int | None, touch: bool, force: bool) -> WriteOutcome | None:
    from musictext.tags import files as tagfiles

    field_map = entry.written.get("field_map") or None
    before_all, after_all = entry.written.get("before_all"), entry.written.get("after_all")
    try:
        target = os.path.realpath(entry.path)
        if entry.snapshot.get("path") not in (None, target):
            raise TagWriteError(f"now leads to {target}, not the file that was written; not restored", entry.path)
        current = tagfiles.read_tags(entry.path, field_map)
        if entry.state == "planned":
            # A run killed mid-write: the file holds either the old or the new tags, whole.
            if before_all is not None:
                untouched = current == before_all
            else:
                untouched = all(current.get(k, []) == v for k, v in entry.before.items())
            if untouched:
                with store.batch():
                    store.set_journal_state(entry.id, "undone")
                return None
            if before_all is not None:
                after_all = {k: v for k, v in {**before_all, **entry.after}.items() if v}
        if after_all is None:  # journaled by an older musictext: nothing to compare with
            as_left = True
        else:
            fingerprint = entry.written.get("after_fingerprint")
            as_left = current == after_all and fingerprint == tagfiles.tag_fingerprint(entry.path)
        if force or as_left:
            tagfiles.restore(entry.path, entry.snapshot, keep_mtime=not touch)
            status = "restored"
        else:
            changed = sorted(f for f in set(current) | set(after_all) if current.get(f, []) != after_all.get(f, []))
            clash = [f for f in changed if f in entry.after]
            if clash:
                by = f"run {later_run} wrote it later: undo run {later_run} first, or pass" if later_run else "pass"
                raise MusictextError(
                    f"{', '.join(clash)} changed since run {entry.run_id} wrote it; not restored"
                    f" ({by} --force to restore the old tags, losing those changes)"
                )
            # Changed since in other ways (other fields, art): put back only this run's fields.
            tagfiles.write(
                entry.path, {f: entry.before.get(f, []) for f in entry.after}, "replace",
                field_map=field_map, keep_mtime=not touch,
            )  # fmt: skip
            status = "reverted"
    except MusictextError as exc:
        return WriteOutcome(entry.path, entry.after, entry.before, "failed", exc.message)
    with store.batch():
        store.set_journal_state(entry.id, "undone")
        track = store.track_by_path(entry.path)
        if track is not None:
            _refresh_track(store, track.id, entry.path)
    return WriteOutcome(entry.path, entry.after, entry.before, status)
