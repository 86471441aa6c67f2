"""Queries: arithmetic over terms, and each term decomposed into the concepts it names.

``"jazz + rain - vocals"`` and ``"2:piano + strings"`` are parsed rclip-style into signed,
weighted terms. A term such as "a slow cello piece" is cut into word spans ("slow", "cello"),
each span is matched to its nearest concept by the text tower, and every matched concept counts:
a query that names two attributes ranks by both, not by whichever dominates the sentence vector.

A broad word matches every concept within BROAD_MARGIN of its best match ("saxophone" → soprano,
alto and tenor saxophone), sharing the word's weight. A word that names no concept but is in the
bundle's lexicon ("sunny", "night drive") counts through the lexicon entry's concepts.
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
# A broad word means every concept this close to its best match, not only the nearest one:
# "saxophone" is 0.89/0.89/0.87 from the soprano/alto/tenor saxophone probes, "sax" 0.76/0.73/0.73.
BROAD_MARGIN = 0.04
# A lexicon entry written for a span counts as a match this close: it beats a span's nearest
# concept unless that concept is (nearly) the span itself ("rain" ~ "dark" 0.50 loses to the
# entry; "piano" = the piano tag, 1.0, wins over any entry).
LEXICON_PRIORITY = 0.9

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
    share: float = 1.0  # of the span's weight: 1/k for a broad word, the entry's weight for the lexicon
    entry: str = ""  # the lexicon entry used, as --explain shows it ("sunny → happy +, major key +")


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


def words_of(text: str) -> list[str]:
    words = [w.lower().strip("'-") for w in _WORD.findall(text)]
    return [w for w in words if w]


def spans(text: str) -> list[tuple[int, int, str]]:
    """Contiguous runs of up to MAX_SPAN content words, as (start, end, text)."""
    words = words_of(text)
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
    """Matches text to concepts through the text tower, with concept phrases embedded once, and
    (given a lexicon) descriptive words to the concepts their entries name."""

    def __init__(self, concepts: list[Concept], encode, lexicon=None, opposite=None):
        self.concepts = concepts
        self.encode = encode  # callable: list[str] -> [n, d] unit vectors
        self.lexicon = lexicon  # musictext.lexicon.Lexicon or None
        self.opposite = opposite or (lambda a, b: False)  # (name, name) -> are they opposites?
        self.index = {c.name: i for i, c in enumerate(concepts)}
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

    def lexicon_matches(self, text: str) -> list[Match]:
        """The concepts the lexicon entry for ``text`` names (none without an entry, or when none
        of its concepts is in this bundle)."""
        from musictext.lexicon import describe, resolve

        entry = self.lexicon.lookup(text) if self.lexicon is not None else None
        if entry is None:
            return []
        shown = describe(entry, self.index)
        return [Match(text, ci, 1.0, w, shown) for ci, w in resolve(entry, self.index).items()]

    def broad_matches(self, text: str, sims: np.ndarray) -> list[Match]:
        """Every concept within BROAD_MARGIN of the best match (none of them its opposite)."""
        best = int(np.argmax(sims))
        floor = max(MATCH_THRESHOLD, float(sims[best]) - BROAD_MARGIN)
        name = self.concepts[best].name
        near = [best] + [
            int(c)
            for c in np.argsort(-sims)
            if int(c) != best and sims[c] >= floor and not self.opposite(name, self.concepts[int(c)].name)
        ]
        return [Match(text, c, float(sims[c]), 1.0 / len(near)) for c in near]

    def _lexicon_spans(self, text: str, cands: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """Runs of words with a stopword in them ("game music", "a cappella", "8 bit") that are
        lexicon phrases, as (start, end, text) over the same word positions as ``spans``."""
        if self.lexicon is None:
            return []
        words = words_of(text)
        known = {c[2] for c in cands}
        out = []
        for i in range(len(words)):
            for j in range(i + 2, min(len(words), i + MAX_SPAN) + 1):
                phrase = " ".join(words[i:j])
                if phrase not in known and self.lexicon.lookup(phrase) is not None:
                    out.append((i, j, phrase))
        return out

    def plan(self, term: Term) -> TermPlan:
        plan = TermPlan(term)
        cands = spans(term.text)
        if not cands:
            cands = [(0, 1, term.text.lower())]
        sims = self.concept_similarity(self.encode([c[2] for c in cands]))
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(len(cands)), best]
        # Options: a span's nearest concept(s), or its lexicon entry; greedy, best first,
        # non-overlapping; on a tie the longer span wins ("minor key" over "minor").
        # A lexicon phrase of several words ("night drive", "game music", "8 bit") is a reading of
        # the whole phrase: it goes before any match of its parts, unless a concept is the phrase.
        options = []
        for k in range(len(cands)):
            if best_sim[k] >= MATCH_THRESHOLD:
                options.append((float(best_sim[k]), k, "concept"))
        n_scored = len(cands)
        cands = cands + self._lexicon_spans(term.text, cands)
        for k, (start, end, text) in enumerate(cands):
            if self.lexicon is not None and self.lexicon.lookup(text) is not None:
                whole = end - start > 1 and (k >= n_scored or best_sim[k] < LEXICON_PRIORITY)
                options.append((1.0 + end - start if whole else LEXICON_PRIORITY, k, "lexicon"))
        options.sort(key=lambda o: (-round(o[0], 2), cands[o[1]][0] - cands[o[1]][1], o[2] != "concept"))
        taken: set[int] = set()
        for _, k, kind in options:
            start, end, text = cands[k]
            if taken & set(range(start, end)):
                continue
            found = self.broad_matches(text, sims[k]) if kind == "concept" else self.lexicon_matches(text)
            if not found:
                continue
            taken |= set(range(start, end))
            plan.matches.extend(found)
        for k, (start, end, text) in enumerate(cands[:n_scored]):
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
                weights[m.concept] = weights.get(m.concept, 0.0) + plan.term.weight * strength * m.share
        return weights
