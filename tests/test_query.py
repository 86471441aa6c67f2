import numpy as np
import pytest

from musictext.concepts import build_concepts, concept_matrix, concept_weights_to_columns
from musictext.errors import MusictextError
from musictext.filters import parse_where
from musictext.query import ConceptMatcher, Term, parse_terms, spans


def test_parse_terms_arithmetic_and_weights():
    assert parse_terms("jazz + rain - vocals") == [Term("jazz", 1.0), Term("rain", 1.0), Term("vocals", -1.0)]
    assert parse_terms("2:piano + strings") == [Term("piano", 2.0), Term("strings", 1.0)]
    assert parse_terms("lo-fi hip-hop") == [Term("lo-fi hip-hop", 1.0)]  # hyphens inside words stay
    assert parse_terms("- vocals") == [Term("vocals", -1.0)]
    assert parse_terms("  ") == []


def test_spans_skip_stopwords():
    texts = [s[2] for s in spans("a slow cello piece")]
    assert texts == ["slow", "slow cello", "cello"]
    assert [s[2] for s in spans("church organ")] == ["church", "church organ", "organ"]


def fake_encoder(vocab):
    """Unit vectors where each known word is its own axis: a text tower with perfect recall."""

    def encode(texts):
        out = np.zeros((len(texts), len(vocab) + 1), np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                if w in vocab:
                    out[i, vocab.index(w)] += 1
            if not out[i].any():
                out[i, -1] = 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    return encode


def test_every_named_concept_counts():
    concepts = build_concepts(["cello", "piano", "slow"], ["mtt", "mtt", "mtt"])
    vocab = sorted({w for c in concepts for p in c.phrases for w in p.split()})
    matcher = ConceptMatcher(concepts, fake_encoder(vocab))
    plan = matcher.plan(Term("a fast cello piece", 1.0))
    names = {concepts[m.concept].name for m in plan.matches}
    assert names == {"fast", "cello"}
    weights = matcher.weights([plan])
    cols = concept_weights_to_columns(concepts, weights, 3 + 6)
    # cello column and the tempo descriptors (onset rate up) are both weighted
    assert cols[0] > 0 and cols[3 + 1] > 0
    unknown = matcher.plan(Term("xylophone", 1.0))
    assert not unknown.matched and unknown.closest is not None


def test_slow_merges_tag_and_tempo_descriptor():
    concepts = build_concepts(["slow", "fast"], ["mtt", "mtt"])
    slow = next(c for c in concepts if c.name == "slow")
    cols = dict(slow.columns)
    assert cols[0] == 1.0 and cols[2 + 1] < 0  # the tag, and fewer onsets per second


def test_concept_matrix_fills_missing_descriptors():
    probs = np.array([[0.9, 0.1], [0.2, 0.5]], np.float32)
    desc = {"bpm": np.array([120, np.nan], np.float32), "onset_rate": np.array([2.0, 4.0], np.float32)}
    m = concept_matrix(probs, desc)
    assert m.shape == (2, 8) and np.isfinite(m).all()
    assert m[0, 0] > 0 > m[0, 1]


def test_where_parsing():
    w = parse_where(["year>=2000", "genre:jazz", "bpm>120", "mode=minor", "artist=Björk"])
    assert [(c.field, c.op, c.value) for c in w.conditions] == [
        ("year", "ge", 2000.0),
        ("genre", "contains", "jazz"),
        ("bpm", "gt", 120.0),
        ("mode", "eq", "minor"),
        ("artist", "eq", "Björk"),
    ]
    with pytest.raises(MusictextError):
        parse_where(["colour=blue"])
    with pytest.raises(MusictextError):
        parse_where(["year>=soon"])


def test_learned_concepts_take_columns_after_the_descriptors():
    concepts = build_concepts(["cello", "slow"], ["mtt", "mtt"], (("organ", ("pipe organ",)),))
    organ = next(c for c in concepts if c.name == "organ")
    assert organ.phrases == ("organ", "pipe organ") and organ.columns == ((2 + 6, 1.0),)
    probs = np.array([[0.2, 0.9], [0.8, 0.1]], np.float32)
    learned = np.array([[3.0], [-2.0]], np.float32)
    m = concept_matrix(probs, {}, learned)
    assert m.shape == (2, 2 + 6 + 1) and list(m[:, -1]) == [3.0, -2.0]
    ci = concepts.index(organ)
    assert concept_weights_to_columns(concepts, {ci: 1.0}, m.shape[1])[-1] == 1.0


def test_shipped_learned_concepts_name_what_no_tagger_knows():
    """Every shipped probe loads, answers finite log-odds for the stored feature width, and names
    a word in which the planner (taggers and descriptors only) matches nothing."""
    from musictext.model.bundle import get_bundle
    from musictext.model.probes import learned_concepts, probe_columns
    from musictext.model.textspace import text_side
    from musictext.query import ConceptMatcher, Term

    bundle = get_bundle("musicnn-minilm")
    learned = learned_concepts(bundle)
    assert learned is not None and len(learned) >= 5 and "church organ" in learned.names
    rng = np.random.default_rng(0)
    cols = probe_columns(learned, rng.random((3, 100), dtype=np.float32), rng.random((3, 400), dtype=np.float32))
    assert cols.shape == (3, len(learned)) and np.isfinite(cols).all()
    tags = bundle.manifest["tags"]
    matcher = ConceptMatcher(
        build_concepts([t["name"] for t in tags], [t["source"] for t in tags]), text_side(bundle).encode
    )
    real = {c["name"] for c in bundle.manifest["learned_concepts"] if c.get("source") == "real recordings"}
    for name in learned.names:
        if name not in real:  # the synthetic probes: words in which no tagger/descriptor word is found
            assert not matcher.plan(Term(name, 1.0)).matches, name
    assert len({*learned.names}) == len(learned.names)
    # Probes from real recordings (models/real_probes.py) may be compounds of a known word ("snare
    # drum"), but never a known concept's phrase, and no tagger or descriptor word turns into one.
    from musictext.library.space import bundle_concepts

    known = {p for c in matcher.concepts for p in (c.name, *c.phrases)}
    full = bundle_concepts(bundle)
    planner = ConceptMatcher(full, text_side(bundle).encode)
    for c in full:
        if c.name in real:
            assert not {c.name, *c.phrases} & known, c.name
    for word in sorted(known):
        assert not {full[m.concept].name for m in planner.plan(Term(word, 1.0)).matches} & real, word


def test_where_runs_in_the_store(tmp_path):
    """The store turns parsed filters into SQL: text contains/equals (case-insensitive), numbers,
    the measured tempo before the file's BPM tag, and the mode."""
    from musictext.library.store import Store

    with Store(tmp_path / "lib.sqlite3") as store:
        with store.batch():
            a = store.upsert_track("/m/a.flac", 1, 1, "ha", 200.0, {"artist": ["Björk"], "genre": ["Jazz Fusion"]})
            b = store.upsert_track("/m/b.flac", 1, 1, "hb", 100.0, {"artist": ["bjork"], "bpm": ["150"]})
            c = store.upsert_track("/m/100%_c.mp3", 1, 1, "hc", 50.0, {"year": ["2001"]})
            for tid, desc in ((a, {"bpm": 90.0, "major": 1.0}), (b, {"major": -1.0})):
                feats = {"mode": "full", "analysed_s": 1.0, "probs": np.zeros(2), "pooled": np.zeros(2)}
                store.put_features(tid, "m", {**feats, "descriptors": desc})

        def ids(*exprs):
            return store.matching_ids(parse_where(list(exprs)), "m")

        assert ids("genre:jazz") == {a}
        assert ids("artist=björk") == {a} and ids("artist=BJORK") == {b} and ids("artist!=bjork") == {a, c}
        assert ids("bpm>120") == {b}  # no measurement: the tag counts
        assert ids("bpm<100") == {a}
        assert ids("mode=minor") == {b} and ids("mode=major") == {a}
        assert ids("duration<=100", "duration>60") == {b}
        assert ids("year>=2000") == {c}
        assert ids("path:100%") == {c} and ids("path:_c") == {c}
        assert ids() == {a, b, c}
