"""The fast query paths give the same answers as the plain ones: top-k by a sampled threshold is
exactly the stable sort's top k (ties and NaN included), and concept scores read column by column
from the column-major matrix equal the row-major matrix product."""

from __future__ import annotations

import numpy as np
import pytest

from musictext.library.space import LAYOUT, TOP_SAMPLE, Space, _cached, save_space, top_rows


def _reference(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, kind="stable")[:k]


@pytest.mark.parametrize("n", [1, 7, 1000, TOP_SAMPLE * 4 - 1, TOP_SAMPLE * 4, 300_000])
@pytest.mark.parametrize("k", [1, 20, 500])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_rows_is_the_stable_sort_top_k(n, k, dtype):
    rng = np.random.default_rng(n + k)
    scores = rng.normal(size=n).astype(dtype)
    assert np.array_equal(top_rows(scores, k), _reference(scores, k))


def test_top_rows_with_ties_nan_and_skew():
    rng = np.random.default_rng(1)
    n = 200_000
    ties = rng.integers(0, 50, size=n).astype(np.float32)  # thousands of ties at every value
    for k in (1, 20, 3999, 4001):
        assert np.array_equal(top_rows(ties, k), _reference(ties, k))
    sorted_up = np.arange(n, dtype=np.float32)  # the best at the very end: a strided sample misses them
    assert np.array_equal(top_rows(sorted_up, 20), _reference(sorted_up, 20))
    spiky = np.zeros(n, np.float32)
    spiky[rng.choice(n, 5, replace=False)] = 1.0  # fewer high scores than k: the rest are tied zeros
    assert np.array_equal(top_rows(spiky, 20), _reference(spiky, 20))
    with_nan = rng.normal(size=n).astype(np.float32)
    with_nan[rng.choice(n, n // 3, replace=False)] = np.nan
    assert np.array_equal(top_rows(with_nan, 50), _reference(with_nan, 50))
    all_nan = np.full(1000, np.nan, np.float32)
    assert np.array_equal(top_rows(all_nan, 5), _reference(all_nan, 5))
    assert top_rows(np.zeros(3, np.float32), 10).tolist() == [0, 1, 2] and len(top_rows(np.zeros(0), 4)) == 0


def _spaces(n: int = 50_000, width: int = 120):
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(n, width)).astype(np.float32) * rng.uniform(0.5, 3, width).astype(np.float32)
    mu, sd = raw.mean(0), raw.std(0)
    joint = rng.normal(size=(n, 16)).astype(np.float32)
    ids = np.arange(1, n + 1, dtype=np.int64)
    return Space("m", ids, raw, mu, sd, joint), Space("m", ids, np.asfortranarray(raw), mu, sd, joint)


@pytest.mark.parametrize("named", [[3], [0, 5, 101], list(range(0, 120, 2))])
def test_column_major_concept_scores_equal_the_matrix_product(named):
    row_major, column_major = _spaces()
    assert column_major.raw.flags.f_contiguous and not row_major.raw.flags.f_contiguous
    w = np.zeros(120, np.float32)
    w[named] = np.linspace(-1.0, 1.5, len(named))
    plain = row_major.raw @ (w / row_major.sd) - float(row_major.mu @ (w / row_major.sd))  # the old formula
    fast = column_major.concept_scores(w)
    assert fast.dtype == np.float32 and np.abs(fast - plain).max() <= 1e-5 * max(1.0, float(np.abs(plain).max()))
    assert np.array_equal(top_rows(fast, 20), top_rows(plain, 20))
    rows = np.arange(0, 50_000, 7)
    assert np.abs(column_major.concept_scores(w, rows) - plain[rows]).max() <= 1e-5 * float(np.abs(plain).max())


def test_the_cache_keeps_the_column_major_layout(tmp_path, monkeypatch):
    _, space = _spaces(2000)

    class FakeStore:  # the generation is all _cached asks the store
        def generation(self, model):
            return 3

    class FakeBundle:
        model_id = "m"
        manifest = {"tags": []}

    monkeypatch.setattr("musictext.library.space.concepts_signature", lambda bundle: "sig")
    save_space(space, tmp_path, 3, "sig")
    loaded, health = _cached(FakeStore(), FakeBundle(), tmp_path)
    assert health == "ok" and loaded.raw.flags.f_contiguous and np.array_equal(loaded.raw, space.raw)
    meta = next(tmp_path.glob("*.space.json"))
    meta.write_text(meta.read_text().replace(f'"layout": "{LAYOUT}"', '"layout": "rows"'))
    assert _cached(FakeStore(), FakeBundle(), tmp_path)[1] in ("stale", "damaged")


def _joint_library(n: int, off_span: int = 0, seed: int = 0) -> np.ndarray:
    """Joint vectors as the built-in model makes them (mixes of 100 tag embeddings), and a few
    that are not (a trained head's, say)."""
    from musictext.model.textspace import joint_vectors

    rng = np.random.default_rng(seed)
    tags = rng.normal(size=(100, 384)).astype(np.float32)
    joint = joint_vectors(rng.beta(0.3, 2.0, size=(n, 100)).astype(np.float32), tags)
    if off_span:
        other = rng.normal(size=(off_span, 384)).astype(np.float32)
        joint[rng.choice(n, off_span, replace=False)] = other / np.linalg.norm(other, axis=1, keepdims=True)
    return joint


@pytest.mark.parametrize("off_span, per_row_bounds", [(0, False), (40, False), (40, True)])
def test_joint_top_with_the_factor_is_exact(off_span, per_row_bounds, monkeypatch):
    from musictext.library import space
    from musictext.library.space import joint_factor

    if per_row_bounds:  # the path for many rows off the basis: each row bounded by its own residual
        monkeypatch.setattr(space, "FACTOR_LOOSE_SHARE", 0.0)

    joint = _joint_library(60_000, off_span)
    factor = joint_factor(joint)
    assert factor is not None and factor.basis.shape[1] == 384
    assert factor.basis.shape[0] == 100 if not off_span else 100 <= factor.basis.shape[0] <= 192
    plain = Space("m", np.arange(len(joint)), np.zeros((len(joint), 1), np.float32), np.zeros(1), np.ones(1), joint)
    fast = Space(**{**plain.__dict__, "factor": factor})
    rng = np.random.default_rng(5)
    queries = [joint[3], joint[17] * 2.5, rng.normal(size=384).astype(np.float32)]  # a track, unnormalised, off-span
    for q in queries:
        for k in (1, 20, 300):
            reference = top_rows(joint @ q, k)
            rows, scores = fast.joint_top(q, k)
            assert np.array_equal(rows, reference)
            assert np.abs(scores - (joint @ q)[reference]).max() <= 1e-6
            assert np.array_equal(plain.joint_top(q, k)[0], reference)


def test_full_rank_vectors_get_no_factor():
    from musictext.library.space import joint_factor

    rng = np.random.default_rng(0)
    assert joint_factor(rng.normal(size=(5000, 64)).astype(np.float32)) is None
    assert joint_factor(np.zeros((0, 64), np.float32)) is None


def test_similar_gives_the_same_answer_through_the_cached_factor(library, monkeypatch):
    """A real library, indexed: `similar` ranks the same with the low-rank factor (cached, read
    back from disk) as with the plain exact scan."""
    from musictext.config import index_dir
    from musictext.library import space as space_module
    from musictext.library.index import index_library
    from musictext.library.view import Library
    from musictext.search import similar

    index_library([library], jobs=1)
    seed = str(library / "busy" / "clicks.wav")
    monkeypatch.setattr("musictext.library.ann.index_health", lambda *a, **k: "missing")  # the exact path
    plain = [(r.track.path, r.score) for r in similar(seed, n=5).results]
    monkeypatch.setattr(space_module, "FACTOR_MIN_TRACKS", 1)
    for meta in index_dir().glob("*.space.json"):
        meta.unlink()  # rebuilt with the factor on the next read, and cached with it
    Library().close()
    lib = Library()
    assert lib.space.factor is not None and isinstance(lib.space.factor.coords, np.memmap)
    lib.close()
    fast = [(r.track.path, r.score) for r in similar(seed, n=5).results]
    assert [p for p, _ in fast] == [p for p, _ in plain] and len(plain) == 5
    assert np.allclose([s for _, s in fast], [s for _, s in plain], atol=1e-6)


def test_row_lookup_is_the_mapping_of_ids_to_rows():
    from musictext.library.space import RowLookup

    rng = np.random.default_rng(3)
    for ids in (np.arange(5, 3005, 3), rng.permutation(np.arange(1, 4000, 2)), np.array([7]), np.zeros(0, np.int64)):
        lookup, truth = RowLookup(ids), {int(t): i for i, t in enumerate(ids)}
        probes = list(range(-2, 4010))  # present and absent ids; past DICT_AFTER calls it uses a dict
        assert [lookup.get(t) for t in probes] == [truth.get(t) for t in probes]
        assert [t in lookup for t in probes[:50]] == [t in truth for t in probes[:50]]
        assert len(lookup) == len(ids)
        for t in list(truth)[:5]:
            assert lookup[t] == truth[t] and lookup[np.int64(t)] == truth[t]
        with pytest.raises(KeyError):
            lookup[-1]
