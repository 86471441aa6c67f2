"""`musictext tag`: score a vocabulary against the library, choose tags, write them safely.

Scores are the same as `search` gives for each term's prompt, then calibrated against the
library's own distribution: a term's calibrated score for a track is Φ(z), z being how far the
track stands above the library's mean for that term. So a term whose raw similarity is high for
everything ("rock") is not given to everything, and 0.9 means "in the top tenth of this library".
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from musictext.config import db_path
from musictext.errors import MusictextError, NotFoundError, TagWriteError, read_user_text
from musictext.store import Store

BUILTIN_VOCABS = ("genres", "moods", "instruments", "eras")
DEFAULT_FIELD = "genre"


@dataclass(frozen=True)
class VocabTerm:
    term: str
    prompt: str
    field: str


def load_vocab(spec: str, default_field: str = DEFAULT_FIELD) -> list[VocabTerm]:
    """Read a vocabulary: a built-in name or a file (one term a line, `term = prompt`, [field] sections)."""
    if spec in BUILTIN_VOCABS:
        text = resources.files("musictext.vocab").joinpath(f"{spec}.txt").read_text(encoding="utf-8")
    else:
        text = read_user_text(spec, "vocabulary")
    terms: list[VocabTerm] = []
    current = default_field
    seen: set[tuple[str, str]] = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip().lower() or default_field
            continue
        term, _, prompt = (p.strip() for p in line.partition("="))
        if term and (term.lower(), current) not in seen:
            seen.add((term.lower(), current))
            terms.append(VocabTerm(term, prompt or term, current))
    if not terms:
        raise MusictextError(f"vocabulary {spec!r} has no terms")
    return terms


def phi(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF: a z-score as the share of the library it stands above."""
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(z, np.float64) / math.sqrt(2.0)))


@dataclass
class TrackTags:
    track_id: int
    path: str
    chosen: list[tuple[str, str, float]]  # (term, field, calibrated score)
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class TagScores:
    terms: list[VocabTerm]
    tracks: list[TrackTags]
    warnings: list[str]


def score_vocab(
    vocab: list[VocabTerm],
    paths: list[str] | None = None,
    where: list[str] | None = None,
    model: str | None = None,
    top_k: int | None = 3,
    threshold: float | None = None,
    min_margin: float = 0.0,
) -> TagScores:
    """Calibrated score of every term for every selected track, and the terms chosen for each."""
    from musictext.search import Library

    lib = Library(model)
    try:
        rows = lib.rows_for(where)
        if paths:
            wanted = _track_ids_under(lib.store, paths)
            keep = [
                i
                for i in (range(len(lib.space)) if rows is None else rows)
                if int(lib.space.ids[i]) in wanted
            ]
            rows = np.array(keep, dtype=np.int64)
        selected = np.arange(len(lib.space)) if rows is None else rows
        if len(selected) == 0:
            raise NotFoundError("no indexed track matches the given paths or filters")
        calibrated = np.zeros((len(vocab), len(selected)))
        warnings: list[str] = []
        for j, term in enumerate(vocab):
            raw, outcome, _ = lib.text_scores(term.prompt, None)  # the whole library is the reference
            z = (raw - raw.mean()) / max(float(raw.std()), 1e-9)
            calibrated[j] = phi(z[selected])
            warnings += [f"{term.term}: {w}" for w in outcome.warnings]
        tracks = lib.store.tracks([int(lib.space.ids[i]) for i in selected])
        out = []
        for col, row in enumerate(selected):
            tid = int(lib.space.ids[row])
            s = calibrated[:, col]
            order = np.argsort(-s, kind="stable")
            picked = order[:top_k] if top_k else order
            if threshold is not None:
                picked = [j for j in picked if s[j] >= threshold]
            if min_margin and len(picked):
                unpicked = [j for j in order if j not in set(picked)]
                runner_up = s[unpicked[0]] if unpicked else 0.0
                picked = [j for j in picked if s[j] - runner_up >= min_margin]
            chosen = [(vocab[j].term, vocab[j].field, round(float(s[j]), 4)) for j in picked]
            scores = {vocab[j].term: round(float(s[j]), 4) for j in range(len(vocab))}
            out.append(TrackTags(tid, tracks[tid].path, chosen, scores))
        return TagScores(vocab, out, warnings)
    finally:
        lib.close()


def _track_ids_under(store: Store, paths: list[str]) -> set[int]:
    import os

    prefixes = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    return {
        tid
        for tid, t in store.tracks().items()
        if any(t.path == p or t.path.startswith(p.rstrip("/") + "/") for p in prefixes)
    }


# Writing ------------------------------------------------------------------------------------------
@dataclass
class WriteOutcome:
    path: str
    before: dict[str, list[str]]
    after: dict[str, list[str]]
    status: str  # "written", "unchanged", "would change", "failed"
    reason: str = ""


def plan_and_write(
    result: TagScores,
    *,
    write: bool,
    mode: str = "add",
    field_map: dict[str, str] | None = None,
    touch: bool = False,
    command: str = "",
) -> tuple[int | None, list[WriteOutcome]]:
    """Dry-run (write=False) or journal-then-write every track's chosen tags; (run id, outcomes)."""
    from musictext import tagfiles

    outcomes: list[WriteOutcome] = []
    run_id = None
    with Store(db_path()) as store:
        if write:
            with store.batch():
                cur = store.conn.execute(
                    "INSERT INTO runs (kind, args, started) VALUES ('tag', ?, ?)", (command, time.time())
                )
                run_id = int(cur.lastrowid)
        for track in result.tracks:
            fields: dict[str, list[str]] = {}
            for term, fld, _ in track.chosen:
                fields.setdefault(fld, []).append(term)
            if not fields:
                continue
            try:
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
            try:
                snap = tagfiles.snapshot(track.path)
                with store.batch():  # journaled before the file is touched
                    cur = store.conn.execute(
                        "INSERT INTO journal (run_id, path, before, after, snapshot, at) VALUES (?,?,?,?,?,?)",
                        (
                            run_id,
                            track.path,
                            json.dumps(change.before),
                            json.dumps(change.after),
                            json.dumps(snap),
                            time.time(),
                        ),
                    )
                    entry = cur.lastrowid
                tagfiles.write(track.path, change, field_map=field_map, keep_mtime=not touch)
            except MusictextError as exc:
                outcomes.append(WriteOutcome(track.path, change.before, change.after, "failed", exc.message))
                continue
            with store.batch():
                store.conn.execute("UPDATE journal SET state='done' WHERE id=?", (entry,))
                _refresh_track(store, track.track_id, track.path)
            outcomes.append(WriteOutcome(track.path, change.before, change.after, "written"))
        if run_id is not None:
            with store.batch():
                store.conn.execute("UPDATE runs SET finished=? WHERE id=?", (time.time(), run_id))
    return run_id, outcomes


def _refresh_track(store: Store, track_id: int, path: str) -> None:
    """After a tag write: new size/mtime/hash and tags, so `index` does not re-analyse the track."""
    import os

    from musictext.indexer import content_hash, read_file_tags

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


def history() -> list[RunInfo]:
    with Store(db_path(), readonly=True) as store:
        rows = store.conn.execute(
            "SELECT r.id, r.started, r.finished, r.undone, r.args,"
            " (SELECT COUNT(*) FROM journal j WHERE j.run_id=r.id AND j.state!='planned')"
            " FROM runs r WHERE r.kind='tag' ORDER BY r.id"
        ).fetchall()
    return [RunInfo(r[0], r[1], r[2], r[3], r[5], r[4]) for r in rows]


def undo(run: str = "last", touch: bool = False) -> tuple[int, list[WriteOutcome]]:
    """Restore every file a tag run changed to its exact previous tags (newest change first)."""
    from musictext import tagfiles

    with Store(db_path()) as store:
        if run == "last":
            row = store.conn.execute(
                "SELECT id FROM runs WHERE kind='tag' AND undone IS NULL ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise NotFoundError("no tag run to undo")
            run_id = int(row[0])
        else:
            try:
                run_id = int(run)
            except ValueError:
                raise MusictextError(f"--undo takes a run number from --history, not {run!r}") from None
            row = store.conn.execute(
                "SELECT undone FROM runs WHERE id=? AND kind='tag'", (run_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no tag run {run_id} (see musictext tag --history)")
            if row[0] is not None:
                raise MusictextError(f"tag run {run_id} was already undone")
        entries = store.conn.execute(
            "SELECT id, path, before, after, snapshot, state FROM journal WHERE run_id=? AND state IN"
            " ('done', 'planned') ORDER BY id DESC",
            (run_id,),
        ).fetchall()
        outcomes = []
        for entry_id, path, before, after, snap, state in entries:
            before_d, after_d = json.loads(before), json.loads(after)
            try:
                if state == "planned":
                    # A run killed mid-write: the file holds either the old or the new tags, whole.
                    current = tagfiles.read_tags(path)
                    if all(current.get(k, []) == v for k, v in before_d.items()):
                        store.conn.execute("UPDATE journal SET state='undone' WHERE id=?", (entry_id,))
                        continue
                tagfiles.restore(path, json.loads(snap), keep_mtime=not touch)
            except (MusictextError, TagWriteError) as exc:
                outcomes.append(WriteOutcome(path, after_d, before_d, "failed", exc.message))
                continue
            with store.batch():
                store.conn.execute("UPDATE journal SET state='undone' WHERE id=?", (entry_id,))
                track = store.track_by_path(path)
                if track is not None:
                    _refresh_track(store, track.id, path)
            outcomes.append(WriteOutcome(path, after_d, before_d, "restored"))
        with store.batch():
            if not any(o.status == "failed" for o in outcomes):
                store.conn.execute("UPDATE runs SET undone=? WHERE id=?", (time.time(), run_id))
    return run_id, outcomes
