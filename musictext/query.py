"""Queries: arithmetic over terms, and each term decomposed into the concepts it names.

``"jazz + rain - vocals"`` and ``"2:piano + strings"`` are parsed rclip-style into signed,
weighted terms. A term such as "a slow cello piece" is cut into word spans ("slow", "cello"),
each span is matched to its nearest concept by the text tower, and every matched concept counts:
a query that names two attributes ranks by both, not by whichever dominates the sentence vector.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from musictext.concepts import Concept

# A span must be at least this close (cosine, MiniLM) to a concept's phrase to count as naming it;
# below it, near words are false friends ("trumpet" ~ "flute" 0.65, "brass" ~ "metal" 0.60).
MATCH_THRESHOLD = 0.66
# Below this, nothing in the model is near a word at all (random strings score ~0.44 here): say so
# instead of returning confident noise.
UNKNOWN_THRESHOLD = 0.50
MAX_SPAN = 3

STOPWORDS = frozenset(
    """a an the and or with without of in on at by for to from into over under some any very really
    quite bit little lot more most less this that these those is are be being been it its it's
    music musical song songs track tracks tune tunes piece pieces sound sounds sounding playing
    played plays play style kind type like something someone some thing things only just
    one two three mostly mainly full lots i me my we our you your want need find give show
    instrument instruments
    """.split()
)

_TERM_SPLIT = re.compile(r"\s+([+-])\s+")
_WEIGHT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(.+)$")
_WORD = re.compile(r"[\w&'-]+", re.UNICODE)


@dataclass(frozen=True)
class Term:
    text: str
    weight: float  # signed


@dataclass
class Match:
    span: str
    concept: int
    similarity: float


@dataclass
class TermPlan:
    term: Term
    matches: list[Match] = field(default_factory=list)
    loose: list[str] = field(default_factory=list)  # words near the model's space but naming no concept
    unknown: list[str] = field(default_factory=list)  # words the model knows nothing about
    closest: tuple[str, float] | None = None  # for the warning when nothing matched

    @property
    def matched(self) -> bool:
        return bool(self.matches)


def parse_terms(query: str) -> list[Term]:
    """Split "jazz + rain - 2:vocals" into signed, weighted terms (hyphens inside words are kept)."""
    query = query.strip()
    sign = 1.0
    if query.startswith("-") and not query.startswith("--"):
        sign, query = -1.0, query[1:]
    elif query.startswith("+"):
        query = query[1:]
    parts = _TERM_SPLIT.split(query)
    terms: list[Term] = []
    texts, signs = parts[0::2], [sign] + [1.0 if op == "+" else -1.0 for op in parts[1::2]]
    for text, s in zip(texts, signs):
        weight = 1.0
        m = _WEIGHT.match(text)
        if m:
            weight, text = float(m.group(1)), m.group(2)
        text = text.strip()
        if text:
            terms.append(Term(text, s * weight))
    return terms


def spans(text: str) -> list[tuple[int, int, str]]:
    """Contiguous runs of up to MAX_SPAN content words, as (start, end, text)."""
    words = [w.lower().strip("'-") for w in _WORD.findall(text)]
    words = [w for w in words if w]
    out: list[tuple[int, int, str]] = []
    for i in range(len(words)):
        if words[i] in STOPWORDS:
            continue
        for j in range(i + 1, min(len(words), i + MAX_SPAN) + 1):
            if words[j - 1] in STOPWORDS:
                break
            out.append((i, j, " ".join(words[i:j])))
    return out


class ConceptMatcher:
    """Matches text to concepts through the text tower, with concept phrases embedded once."""

    def __init__(self, concepts: list[Concept], encode):
        self.concepts = concepts
        self.encode = encode  # callable: list[str] -> [n, d] unit vectors
        phrases, owners = [], []
        for ci, c in enumerate(concepts):
            for p in c.phrases:
                phrases.append(p)
                owners.append(ci)
        self.phrase_owner = np.array(owners)
        self.phrase_vecs = encode(phrases)

    def concept_similarity(self, vecs: np.ndarray) -> np.ndarray:
        """[n, concepts]: each text's best cosine to any phrase of each concept."""
        sims = vecs @ self.phrase_vecs.T
        out = np.full((len(vecs), len(self.concepts)), -1.0, dtype=np.float32)
        for ci in range(len(self.concepts)):
            out[:, ci] = sims[:, self.phrase_owner == ci].max(axis=1)
        return out

    def plan(self, term: Term) -> TermPlan:
        plan = TermPlan(term)
        cands = spans(term.text)
        if not cands:
            cands = [(0, 1, term.text.lower())]
        sims = self.concept_similarity(self.encode([c[2] for c in cands]))
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(len(cands)), best]
        # Greedy, best first, non-overlapping; on a tie the longer span wins ("minor key" over "minor").
        taken: set[int] = set()
        order = sorted(
            range(len(cands)), key=lambda k: (-round(float(best_sim[k]), 2), cands[k][0] - cands[k][1])
        )
        for k in order:
            start, end, text = cands[k]
            if best_sim[k] < MATCH_THRESHOLD:
                break
            if taken & set(range(start, end)):
                continue
            taken |= set(range(start, end))
            plan.matches.append(Match(text, int(best[k]), float(best_sim[k])))
        for k, (start, end, text) in enumerate(cands):
            if end - start == 1 and start not in taken:
                (plan.loose if best_sim[k] >= UNKNOWN_THRESHOLD else plan.unknown).append(text)
        top = int(np.argmax(best_sim))
        plan.closest = (self.concepts[int(best[top])].name, float(best_sim[top]))
        return plan

    def weights(self, plans: list[TermPlan]) -> dict[int, float]:
        """Concept weights of a whole query: every matched concept of a term shares the term's weight."""
        weights: dict[int, float] = {}
        for plan in plans:
            if not plan.matches:
                continue
            for m in plan.matches:
                # Concepts of one term add up; a weak match counts less than an exact one.
                strength = (m.similarity - MATCH_THRESHOLD * 0.5) / (1 - MATCH_THRESHOLD * 0.5)
                weights[m.concept] = weights.get(m.concept, 0.0) + plan.term.weight * strength
        return weights
