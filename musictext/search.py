"""Text search and audio similarity over the library."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musictext import ann
from musictext.bundle import Bundle, get_bundle
from musictext.concepts import concept_weights_to_columns
from musictext.config import db_path, index_dir
from musictext.errors import NotFoundError
from musictext.filters import matching_ids, parse_where
from musictext.query import UNKNOWN_THRESHOLD, ConceptMatcher, TermPlan, parse_terms
from musictext.space import Space, bundle_concepts, load_space
from musictext.store import Store, TrackRow

LOOSE_WEIGHT = 0.5  # a word that names no concept counts half as much as one that does


@dataclass(frozen=True)
class SearchResult:
    rank: int
    score: float
    track: TrackRow
    why: tuple[tuple[str, float], ...] = ()  # (concept, contribution) for --explain


@dataclass
class SearchOutcome:
    results: list[SearchResult]
    warnings: list[str] = field(default_factory=list)
    understood: list[tuple[str, str, float]] = field(default_factory=list)  # (span, concept, weight)
    total: int = 0


class Library:
    """A read-only view of the store for one model: space, concepts, text side."""

    def __init__(self, model: str | None = None):
        self.bundle: Bundle = get_bundle(model)
        self.store = Store(db_path(), readonly=True)
        self.audio_model = self.bundle.base or self.bundle.model_id
        self.space: Space = load_space(self.store, self.bundle, self.audio_model, index_dir())
        if len(self.space) == 0:
            raise NotFoundError("the library is empty for this model: run `musictext index PATH` first")
        self._matcher: ConceptMatcher | None = None

    @property
    def text(self):
        from musictext.textspace import text_side

        return text_side(self.bundle)

    @property
    def matcher(self) -> ConceptMatcher:
        if self._matcher is None:
            self.concepts = bundle_concepts(self.bundle)
            phrases = [p for c in self.concepts for p in c.phrases]
            self.text.encode(phrases)
            self._matcher = ConceptMatcher(self.concepts, self.text.encode)
        return self._matcher

    def rows_for(self, where: list[str] | None) -> np.ndarray | None:
        clause = parse_where(where)
        if clause.empty:
            return None
        ids = matching_ids(self.store.conn, clause, self.audio_model)
        return np.array([i for i, t in enumerate(self.space.ids) if int(t) in ids], dtype=np.int64)

    def text_scores(self, query: str, rows: np.ndarray | None) -> tuple[np.ndarray, SearchOutcome, dict]:
        """Scores of every (filtered) track for ``query``: concept scores where the query names
        concepts, joint-space similarity (standardised) for terms that name none."""
        terms = parse_terms(query)
        if not terms:
            raise NotFoundError("empty query")
        scores, outcome, weights = self._concept_path(terms, rows)
        if self.bundle.manifest.get("scoring") == "joint":
            # A trained head ranks whole captions in the joint space; measured concepts (tempo, key,
            # loudness) and the taggers still count, half and half, so training cannot unlearn them.
            q = sum(t.weight * v for t, v in zip(terms, self.text.encode([t.text for t in terms])))
            everything = self.space.joint_scores(q / max(float(np.linalg.norm(q)), 1e-9))
            z = (everything - everything.mean()) / max(float(everything.std()), 1e-6)
            scores = 0.5 * scores + 0.5 * (z if rows is None else z[rows])
        return scores, outcome, weights

    def _concept_path(self, terms, rows: np.ndarray | None) -> tuple[np.ndarray, SearchOutcome, dict]:
        outcome = SearchOutcome([])
        n = len(self.space) if rows is None else len(rows)
        scores = np.zeros(n, dtype=np.float64)
        plans: list[TermPlan] = [self.matcher.plan(t) for t in terms]
        weights = self.matcher.weights(plans)
        total_weight = sum(abs(w) for w in weights.values())
        if weights:
            cols = concept_weights_to_columns(self.concepts, weights, self.space.raw.shape[1])
            scores += self.space.concept_scores(cols, rows)
        for plan in plans:
            for m in plan.matches:
                outcome.understood.append((m.span, self.concepts[m.concept].name, round(m.similarity, 3)))
            if plan.matched:
                # Words near the space that name no concept still count, softly, through the joint space.
                soft = [(w, LOOSE_WEIGHT) for w in plan.loose]
            else:
                soft = [(plan.term.text, 1.0)]
                closest, sim = plan.closest or ("", 0.0)
                if sim < UNKNOWN_THRESHOLD:
                    outcome.warnings.append(
                        f"nothing in the model is close to {plan.term.text!r} (closest: {closest!r}, "
                        f"similarity {sim:.2f}); its ranking is a guess"
                    )
            if plan.matched and plan.unknown:
                outcome.warnings.append(
                    f"ignored {', '.join(map(repr, plan.unknown))}: nothing in the model is close"
                )
            for text, share in soft:
                scores += plan.term.weight * share * self.joint_z(text, rows)
                total_weight += abs(plan.term.weight) * share
                outcome.understood.append((text, "(joint space)", share))
        return scores / max(total_weight, 1e-9), outcome, weights

    def joint_z(self, text: str, rows: np.ndarray | None) -> np.ndarray:
        """Similarity of each track's joint vector to ``text``, standardised over the library."""
        vec = self.text.encode([text])[0]
        everything = self.space.joint_scores(vec)
        part = everything if rows is None else everything[rows]
        return (part - everything.mean()) / max(float(everything.std()), 1e-6)

    def explain(self, row: int, weights: dict[int, float]) -> tuple[tuple[str, float], ...]:
        parts = []
        for ci, w in weights.items():
            cols = concept_weights_to_columns(self.concepts, {ci: w}, self.space.raw.shape[1])
            contribution = float(self.space.concept_scores(cols, np.array([row]))[0])
            parts.append((self.concepts[ci].name, round(contribution, 2)))
        return tuple(sorted(parts, key=lambda p: -p[1]))

    def results(
        self,
        scores: np.ndarray,
        rows: np.ndarray | None,
        n: int,
        exclude: set[int] = frozenset(),
        weights: dict[int, float] | None = None,
    ) -> list[SearchResult]:
        n = min(n, len(scores))
        want = min(len(scores), n + len(exclude))
        if want < len(scores) // 4:  # top-k without sorting a large library
            top = np.argpartition(-scores, want - 1)[:want]
            order = top[np.argsort(-scores[top], kind="stable")]
        else:
            order = np.argsort(-scores, kind="stable")
        picked = []
        for i in order:
            row = int(i if rows is None else rows[i])
            tid = int(self.space.ids[row])
            if tid in exclude:
                continue
            picked.append((row, tid, float(scores[i])))
            if len(picked) >= n:
                break
        tracks = self.store.tracks([t for _, t, _ in picked])
        out = []
        for rank, (row, tid, score) in enumerate(picked, 1):
            why = self.explain(row, weights) if weights else ()
            out.append(SearchResult(rank, round(score, 4), tracks[tid], why))
        return out

    def close(self) -> None:
        self.store.close()


def search(
    query: str, n: int = 20, where: list[str] | None = None, model: str | None = None, explain: bool = False
) -> SearchOutcome:
    lib = Library(model)
    try:
        rows = lib.rows_for(where)
        if rows is not None and len(rows) == 0:
            return SearchOutcome([], ["no track matches the --where filters"], total=0)
        scores, outcome, weights = lib.text_scores(query, rows)
        outcome.results = lib.results(scores, rows, n, weights=weights if explain else None)
        outcome.total = len(scores)
        return outcome
    finally:
        lib.close()


def similar(
    path: str, n: int = 20, where: list[str] | None = None, model: str | None = None
) -> SearchOutcome:
    """Tracks whose audio is most like ``path`` (indexed or not)."""
    lib = Library(model)
    try:
        vec, exclude = seed_vector(lib, path)
        rows = lib.rows_for(where)
        use_ann = (
            rows is None
            and ann.index_health(
                index_dir(), lib.bundle.model_id, lib.store.generation(lib.bundle.model_id), len(lib.space)
            )
            == "ok"
        )
        if use_ann:
            ids, sims = ann.query(
                index_dir(), lib.bundle.model_id, vec, n + len(exclude), lib.space.joint.shape[1]
            )
            scores = np.full(len(lib.space), -np.inf)
            for tid, s in zip(ids, sims):
                scores[lib.space.row_of[int(tid)]] = s
        else:
            scores = lib.space.joint_scores(vec, rows)
        return SearchOutcome(lib.results(scores, rows, n, exclude=exclude), total=len(scores))
    finally:
        lib.close()


def seed_vector(lib: Library, path: str) -> tuple[np.ndarray, set[int]]:
    """The joint vector of a file: stored if indexed, else analysed on the fly."""
    abspath = os.path.abspath(os.path.expanduser(path))
    track = lib.store.track_by_path(abspath)
    if track is not None and track.id in lib.space.row_of:
        return np.asarray(lib.space.joint[lib.space.row_of[track.id]]), {track.id}
    if not Path(abspath).exists():
        raise NotFoundError("no such file", abspath)
    from musictext.indexer import analyse_one

    feats = analyse_one(abspath, get_bundle(lib.audio_model.split("@")[0]))
    if not lib.bundle.builtin:
        from musictext.train.project import project_features

        desc = {k: np.array([np.nan if v is None else v], np.float32) for k, v in feats.descriptors.items()}
        return project_features(lib.bundle, feats.probs[None], feats.pooled[None], desc)[0], set()
    from musictext.textspace import joint_vectors

    return joint_vectors(feats.probs[None], lib.text.tag_embeddings())[0], set()
