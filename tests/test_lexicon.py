"""The lexicon, broad words and the evidence rules, on the shipped bundle's real text tower."""

from __future__ import annotations

import pytest

from musictext.errors import ModelError, UsageError
from musictext.evidence import evidence_sources, opposite
from musictext.lexicon import bundle_lexicon, parse_lexicon, resolve
from musictext.query import ConceptMatcher, Term, parse_terms
from musictext.tags.tagging import BUILTIN_VOCABS, load_vocab


@pytest.fixture(scope="module")
def shipped():
    from musictext.library.space import bundle_concepts
    from musictext.model.bundle import get_bundle
    from musictext.model.textspace import text_side

    bundle = get_bundle(None)
    concepts = bundle_concepts(bundle)
    lexicon = bundle_lexicon(bundle)
    encode = text_side(bundle).encode
    return bundle, concepts, lexicon, ConceptMatcher(concepts, encode, lexicon, opposite), encode


def test_every_entry_names_known_concepts_and_keeps_one(shipped):
    _, concepts, lexicon, matcher, _ = shipped
    assert len(lexicon) >= 300
    assert lexicon.unknown_names({c.name for c in concepts}) == {}  # a typo is not "optional"
    assert [e.phrase for e in lexicon.entries.values() if not resolve(e, matcher.index)] == []


def test_every_entry_is_reachable_for_its_own_phrase(shipped):
    """An entry the planner never uses (the phrase already names a concept) is dead weight; an entry
    for a word a mood axis names ("workout", "energetic") is what the word means without vibenet."""
    from musictext.concepts import MOOD_CONCEPTS
    from musictext.library.space import active_mood

    _, concepts, lexicon, matcher, _ = shipped
    mood = set(MOOD_CONCEPTS) if active_mood() else set()
    dead = []
    for e in lexicon.entries.values():
        matches = matcher.plan(Term(e.phrase, 1.0)).matches
        if any(m.entry.startswith(e.phrase + " →") for m in matches):
            continue
        if not any(not m.entry and concepts[m.concept].name in mood for m in matches):
            dead.append(e.phrase)
    assert dead == []


def test_sunny_beach_day_and_phrases_with_stopwords(shipped):
    _, concepts, _, matcher, _ = shipped
    plan = matcher.plan(Term("sunny beach day", 1.0))
    entries = {m.entry.split(" →")[0] for m in plan.matches}
    assert entries == {"sunny", "beach"}
    assert "happy" in {concepts[m.concept].name for m in plan.matches}
    assert abs(sum(abs(m.share) for m in plan.matches if m.entry.startswith("sunny")) - 1) < 1e-9
    for phrase in ("game music", "8 bit chiptune", "a cappella", "late night drive"):
        assert any(m.entry for m in matcher.plan(Term(phrase, 1.0)).matches), phrase
    # a word that is a concept keeps it: the lexicon never replaces a direct match
    plan = matcher.plan(Term("a slow cello piece", 1.0))
    assert {concepts[m.concept].name for m in plan.matches} == {"slow", "cello"} and not any(
        m.entry for m in plan.matches
    )


def test_broad_word_takes_every_close_concept(shipped):
    _, concepts, _, _, encode = shipped
    bare = ConceptMatcher(concepts, encode, None, opposite)  # without the lexicon's "saxophone" entry
    plan = bare.plan(Term("saxophone", 1.0))
    assert {concepts[m.concept].name for m in plan.matches} == {
        "soprano saxophone",
        "alto saxophone",
        "tenor saxophone",
    }
    assert abs(sum(m.share for m in plan.matches) - 1) < 1e-9
    assert [concepts[m.concept].name for m in bare.plan(Term("piano", 1.0)).matches] == ["piano"]
    # never an opposite: "voice" is not also "no voice"
    assert "no voice" not in {concepts[m.concept].name for m in bare.plan(Term("voice", 1.0)).matches}


def test_optional_concepts_are_skipped_and_mistakes_refused():
    lexicon = parse_lexicon('optional = ["valence"]\n[words]\nsunny = { happy = 1.0, valence = 3.0 }\n')
    entry = lexicon.lookup("Sunny")
    assert resolve(entry, {"happy": 4}) == {4: 1.0}  # valence absent: skipped, the rest rescaled
    assert resolve(entry, {"happy": 4, "valence": 7}) == {4: 0.25, 7: 0.75}
    assert lexicon.lookup("sunnys") is entry and lexicon.lookup("rainy") is None
    assert lexicon.unknown_names({"happy"}) == {}
    assert parse_lexicon("[words]\nx = { hapy = 1 }\n").unknown_names({"happy"}) == {"x": ["hapy"]}
    with pytest.raises(ModelError, match="non-zero number"):
        parse_lexicon("[words]\nx = { happy = 0 }\n")
    with pytest.raises(ModelError, match="not a valid lexicon"):
        parse_lexicon("[words\n")


def test_every_builtin_vocabulary_term_has_evidence(shipped):
    bundle, concepts, _, matcher, _ = shipped
    missing = []
    for name in BUILTIN_VOCABS:
        for term in load_vocab(name):
            plans = [matcher.plan(t) for t in parse_terms(term.prompt)]
            if not any(evidence_sources(bundle, concepts[m.concept]) for p in plans for m in p.matches):
                missing.append(f"{name}: {term.term}")
    assert missing == []


def test_unclosed_section_is_an_error_with_its_line(tmp_path):
    vocab = tmp_path / "v.txt"
    vocab.write_text("rock\n[mood\ncalm\n")
    with pytest.raises(UsageError, match=r"line 2: '\[mood' is not a \[section\]"):
        load_vocab(str(vocab))
    vocab.write_text("rock\nmood]\n")
    with pytest.raises(UsageError, match="line 2"):
        load_vocab(str(vocab))
