"""`musictext train` and `musictext eval`: metrics by hand, losses, export parity, resume, end to end."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musictext.evaluation import average_precision, retrieval_metrics, roc_auc, tag_metrics
from musictext.pairs import Pair, caption_variants, exclusive_tags, read_pairs, swapped_negatives
from tests.conftest import SR, tone
from tests.test_cli_index_search import json_lines, last_json, mt

ROOT = Path(__file__).resolve().parents[1]


# Metrics, by hand ---------------------------------------------------------------------------------


def test_retrieval_metrics_on_hand_computed_rankings():
    scores = np.array(
        [
            [0.9, 0.8, 0.1, 0.0],  # relevant: item 0 -> rank 1
            [0.9, 0.8, 0.7, 0.1],  # relevant: items 2, 3 -> first at rank 3
            [0.1, 0.2, 0.3, 0.4],  # relevant: item 1 -> order 3,2,1,0 -> rank 3
        ]
    )
    relevant = np.array([[1, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 0]], bool)
    m = retrieval_metrics(scores, relevant)
    assert m["r@1"] == pytest.approx(1 / 3)
    assert m["r@5"] == m["r@10"] == 1.0
    assert m["median_rank"] == 3.0
    # AP@10: q0 = 1; q1 = (1/3 + 2/4) / 2; q2 = (1/3) / 1
    assert m["map@10"] == pytest.approx((1 + (1 / 3 + 2 / 4) / 2 + 1 / 3) / 3)


def test_roc_auc_and_average_precision_by_hand():
    y = np.array([1, 0, 1, 0, 0], bool)
    s = np.array([0.9, 0.8, 0.3, 0.5, 0.1])
    # positive pairs won: 0.9 beats all 3 negatives, 0.3 beats only 0.1 -> 4 of 6
    assert roc_auc(y, s) == pytest.approx(4 / 6)
    # order: 0.9(+) 0.8 0.5 0.3(+) 0.1 -> precision at positives 1/1 and 2/4
    assert average_precision(y, s) == pytest.approx((1 + 0.5) / 2)
    assert roc_auc(np.array([1, 0], bool), np.array([0.5, 0.5])) == 0.5  # a tie counts half
    m = tag_metrics(np.array([y, np.ones(5, bool)]), np.array([s, s]), ["a", "everything"])
    assert list(m["per_tag"]) == ["a"]  # a tag on every file has no negatives: left out of the means
    assert m["macro_roc_auc"] == pytest.approx(4 / 6)


# Pairs and captions --------------------------------------------------------------------------------


def test_read_pairs_jsonl_and_csv(tmp_path):
    (tmp_path / "p.jsonl").write_text(
        '{"audio": "a.wav", "text": "a calm  piano piece"}\n\n{"audio": "/x/b.flac", "tags": ["Organ", "slow"]}\n'
    )
    (tmp_path / "p.csv").write_text('audio,text,tags\nsub/c.mp3,,"minor; organ"\n')
    j = read_pairs(tmp_path / "p.jsonl")
    assert j[0] == Pair(str(tmp_path / "a.wav"), "a calm piano piece", ())
    assert j[1].tags == ("organ", "slow") and j[1].caption == "organ and slow music"
    c = read_pairs(tmp_path / "p.csv")
    assert c[0].audio == str(tmp_path / "sub" / "c.mp3") and c[0].tags == ("minor", "organ")
    (tmp_path / "bad.jsonl").write_text('{"audio": "a.wav"}\n')
    with pytest.raises(Exception, match="needs `text` or `tags`"):
        read_pairs(tmp_path / "bad.jsonl")


def test_caption_variants_and_swapped_negatives_are_seeded():
    pairs = [Pair("/a", None, ("organ", "slow", "major")), Pair("/b", None, ("piano", "fast", "minor"))]
    v1 = caption_variants(pairs[0], 6, random.Random(3), 0.3)
    assert v1 == caption_variants(pairs[0], 6, random.Random(3), 0.3)
    assert v1[0] == "organ, slow and major music" and len(v1) == 6
    negs = swapped_negatives(pairs[0], 3, random.Random(1), exclusive_tags(pairs))
    assert negs and all(n.lower() != pairs[0].key for n in negs)
    # every negative replaces one tag by its opposite or by a tag never seen on the same file
    assert all(any(w in n for w in ("fast", "minor", "piano")) for n in negs)


# Losses and the head (in-process, tiny tensors) ---------------------------------------------------


def _toy(torch, n=24, tags=6, extra=10, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, tags, generator=g)
    x = torch.cat([probs, torch.randn(n, extra, generator=g)], dim=1)
    tag_vecs = torch.nn.functional.normalize(torch.randn(tags, dim, generator=g), dim=1)
    # targets: a fixed random linear map of the features, so there is something to learn
    text = torch.nn.functional.normalize(x @ torch.randn(tags + extra, dim, generator=g), dim=1)
    return x, tag_vecs, text


def _head(torch, x, tag_vecs, hidden=0):
    from musictext.train.head import JointHead

    raw = JointHead.raw_features(x, tag_vecs.shape[0])
    return JointHead(tag_vecs, raw.mean(0), raw.std(0), hidden=hidden, dropout=0.0)


def test_untrained_head_is_the_zero_shot_head():
    torch = pytest.importorskip("torch")
    from musictext.model.textspace import joint_vectors

    x, tag_vecs, _ = _toy(torch)
    head = _head(torch, x, tag_vecs, hidden=8).eval()
    with torch.no_grad():
        got = head(x).numpy()
    want = joint_vectors(x[:, :6].numpy(), tag_vecs.numpy())
    assert np.abs(got - want).max() < 1e-5


@pytest.mark.parametrize("loss", ["infonce", "triplet"])
def test_losses_decrease_on_a_toy_problem(loss):
    torch = pytest.importorskip("torch")
    from musictext.train.head import infonce_loss, triplet_loss

    torch.manual_seed(0)
    x, tag_vecs, text = _toy(torch)
    head = _head(torch, x, tag_vecs)
    scale = torch.nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))
    opt = torch.optim.Adam([*head.parameters(), scale], lr=1e-2)
    positives = torch.eye(len(x), dtype=torch.bool)
    negs = torch.nn.functional.normalize(torch.randn(len(x), 2, text.shape[1]), dim=2)
    mask = torch.ones(len(x), 2, dtype=torch.bool)

    def step() -> float:
        audio = head(x)
        if loss == "infonce":
            value = infonce_loss(audio, text, positives, scale, negs, mask)
        else:
            value = triplet_loss(audio, text, positives, 0.2, negs, mask)
        opt.zero_grad()
        value.backward()
        opt.step()
        return float(value.detach())

    losses = [step() for _ in range(60)]
    assert losses[-1] < 0.5 * losses[0]
    assert all(np.isfinite(losses))


@pytest.mark.parametrize("hidden", [0, 16])
def test_exported_head_matches_torch(tmp_path, hidden):
    torch = pytest.importorskip("torch")
    from musictext.model.runtime import make_session
    from musictext.train.export import export_onnx, verify_onnx

    x, tag_vecs, _ = _toy(torch)
    head = _head(torch, x, tag_vecs, hidden=hidden)
    with torch.no_grad():  # weights away from their zero start, so every branch counts
        for p in head.parameters():
            p.add_(0.1 * torch.randn_like(p))
    head.eval()
    export_onnx(torch, head, x, tmp_path / "head.onnx", "features", "joint")
    assert verify_onnx(torch, head, x, tmp_path / "head.onnx") <= 1e-5
    session = make_session(tmp_path / "head.onnx")
    other = x[:5].numpy()  # a different batch size: the batch axis is dynamic
    with torch.no_grad():
        want = head(torch.from_numpy(other)).numpy()
    assert np.abs(session.run(None, {"features": other})[0] - want).max() <= 1e-5


# Training (in-process and through the CLI) --------------------------------------------------------


def _clips(folder: Path) -> list[dict]:
    """Five short files outside any library, two kinds of sound, and their tags."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(5):
        path = folder / f"clip{i}.wav"
        busy = i % 2 == 0
        y = tone(4, (220.0 * (1 + i / 4),), seed=i, clicks_per_s=6 if busy else 0)
        sf.write(path, y, SR)
        rows.append({"audio": str(path), "tags": ["busy", "clicks"] if busy else ["calm", "hum"]})
    return rows


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    pytest.importorskip("torch")
    from musictext.train.trainer import TrainConfig, train

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in _clips(tmp_path / "clips")))
    common = dict(pairs=str(pairs), batch_size=4, lr=1e-2, seed=3, val_fraction=0.2, patience=50, variants=3)
    straight = train(TrainConfig(name="straight", epochs=4, **common))
    assert straight.epochs_run == 4 and straight.val_files == 1 and straight.train_files == 4
    train(TrainConfig(name="halves", epochs=2, **common))
    resumed = train(TrainConfig(name="halves", epochs=4, resume=True, **common))
    assert resumed.epochs_run == 4
    manifests = [json.loads((Path(r.path) / "manifest.json").read_text()) for r in (straight, resumed)]
    assert manifests[0]["files"]["head"]["sha256"] == manifests[1]["files"]["head"]["sha256"]
    assert manifests[0]["training"]["history"] == manifests[1]["training"]["history"]
    with pytest.raises(Exception, match="different lr"):
        train(TrainConfig(name="halves", epochs=5, resume=True, **(common | {"lr": 0.5})))


def test_train_end_to_end_then_index_search_and_eval(library, tmp_path):
    mt("index", str(library))
    tags = {
        "low hum.wav": ["calm", "drone"],
        "chord.flac": ["calm", "major", "chord"],
        "clicks.wav": ["busy", "percussive"],
        "noise.flac": ["noise", "harsh"],
        "tone.mp3": ["calm", "tone"],
        "tone.ogg": ["calm", "tone"],
    }
    rows = [{"audio": str(p), "tags": tags[p.name]} for p in sorted(library.rglob("*")) if p.name in tags]
    outside = tmp_path / "outside.wav"  # not in the library: analysed on the fly and cached
    sf.write(outside, tone(5, (330.0,), seed=9, clicks_per_s=6), SR)
    rows.append({"audio": str(outside), "text": "busy clicks"})
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))

    proc = mt("train", "--name", "mine", "--pairs", str(pairs), "--epochs", "1", "--batch-size", "4", "--json")
    report = last_json(proc.stdout)
    assert report["epochs_run"] == 1 and report["pairs"] == 7 and report["onnx_max_abs_diff"] <= 1e-5
    assert report["projected"] == 6  # the library was re-projected with the new head
    folder = Path(report["path"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "trained" and manifest["scoring"] == "joint"
    assert manifest["base"].startswith("musicnn-minilm@") and "head" in manifest["files"]
    # the base's text tower is referenced by checksum, not copied: the folder holds a few KB
    assert not {"text", "tokenizer"} & set(manifest["files"]) and set(manifest["base_files"]) == {"text", "tokenizer"}
    assert sum(f.stat().st_size for f in folder.iterdir()) < 2_000_000
    assert (folder / "MODEL_CARD.md").is_file() and manifest["validation"]["zero_shot"] is not None
    # tiny data: plain warnings with the numbers, and a blend that falls back to the base where it cannot tell
    assert any("only 7 pairs (fewer than 50)" in w for w in report["warnings"])
    assert any("only 1 validation file(s)" in w for w in report["warnings"])
    assert any("too few to learn or to check" in w for w in report["warnings"])
    assert manifest["blend"]["default"] == "base" and manifest["warnings"] == report["warnings"]
    assert "warning: only 7 pairs" in proc.stderr
    # words the base does not know became learned concepts of the new bundle
    assert "calm" not in report["new_concepts"] and "busy" in report["new_concepts"]
    assert any(c["name"] == "busy" and c["source"] == "your captions" for c in manifest["learned_concepts"])
    listed = json_lines(mt("models", "list", "--json").stdout)
    assert any(m["name"] == "mine" and "trained" in m["kind"] for m in listed)
    assert "ok" in mt("models", "verify", "mine").stdout

    # the base model's features are reused: nothing is decoded again, every track is re-projected
    again = mt("index", str(library), "--model", "mine", "--json")
    assert last_json(again.stdout)["unchanged"] == 6 and last_json(again.stdout)["indexed"] == 0
    assert "re-projecting 6 stored track(s)" in again.stderr
    hits = json_lines(mt("search", "busy percussive", "--model", "mine", "--json", "-n", "6").stdout)
    assert [h["rank"] for h in hits] == list(range(1, 7))
    assert {Path(h["path"]) for h in hits} == {p for p in library.rglob("*") if p.is_file()}

    concepts = json_lines(mt("models", "concepts", "mine", "--learned", "--json").stdout)
    assert any(c["name"] == "busy" and c["sources"] == ["learned"] for c in concepts)
    explained = mt("search", "busy clicks", "--model", "mine", "--explain", "-n", "2")
    assert "busy" in explained.stdout + explained.stderr  # --explain names the new concept

    evals = json_lines(
        mt("eval", "--pairs", str(pairs), "--model", "musicnn-minilm", "--model", "mine", "--tags", "--json").stdout
    )
    assert [e["model"] for e in evals] == ["musicnn-minilm", "mine"]
    for e in evals:
        assert {"r@1", "r@5", "r@10", "median_rank", "map@10", "macro_roc_auc", "macro_pr_auc"} <= set(e)
        assert 0 <= e["r@1"] <= e["r@5"] <= e["r@10"] <= 1 and e["skipped_pairs"] == 1  # outside file: not indexed
    # where the blend fell back to the base (every caption here), the trained model ranks exactly as the base
    assert evals[0]["map@10"] == evals[1]["map@10"] and evals[0]["r@1"] == evals[1]["r@1"]
    for word in ("calm", "major"):  # base words on too few validation files to judge: the base's scores
        assert evals[1]["per_tag"][word] == evals[0]["per_tag"][word]
    # --explain of a fallen-back query: each line measured where it was scored (the base's joint space too)
    joint_lines = 0
    for query in ("sunny beach day", "calm day", "a low hum", "soft glow", "quiet humming machine"):
        ours, base = (
            json_lines(mt("search", query, "--model", m, "--explain", "--json", "-n", "4").stdout)
            for m in ("mine", "musicnn-minilm")
        )
        assert [r["why"] for r in ours] == [r["why"] for r in base], query
        joint_lines += sum("joint space" in w["concept"] for r in base for w in r["why"])
    assert joint_lines, "no query above reached the joint space: choose other words"
    # the second run finds the outside file's features in the cache: nothing is analysed again
    again = mt("train", "--name", "mine", "--pairs", str(pairs), "--epochs", "1", "--batch-size", "4")
    assert "not in the library" not in again.stderr and again.stdout.strip() == str(folder)
    assert "held-out R@10 1.000 before and after: too few validation files to tell" in again.stderr
    assert "keep the base model's scores" in again.stderr or "too few validation files to judge" in again.stderr

    # the data folder moves: the trained bundle still finds its base's text tower (by name, not path)
    moved = tmp_path / "moved-home"
    shutil.copytree(os.environ["MUSICTEXT_HOME"], moved, symlinks=True)
    env = os.environ | {"MUSICTEXT_HOME": str(moved)}
    shutil.rmtree(os.environ["MUSICTEXT_HOME"])
    assert len(json_lines(mt("search", "busy percussive", "--model", "mine", "--json", env=env).stdout)) == 6
    assert "ok" in mt("models", "verify", "mine", env=env).stdout

    # a missing base model: one line, no traceback
    manifest_path = moved / "models" / "mine" / "manifest.json"
    data = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps(data | {"base": "gone-model@1.0+p1"}))
    for args in (("search", "busy", "--model", "mine"), ("models", "verify", "mine")):
        proc = mt(*args, check=False, env=env)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "trained on gone-model, which is not installed" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_missing_torch_is_one_clear_line(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None; from musictext.cli.app import main; "
        "sys.argv = ['musictext', 'train', '--name', 'x', '--pairs', 'p.jsonl']; main()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
    assert proc.returncode == 1
    assert 'pip install "musictext[train]"' in proc.stderr and "torch==2.13.0" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cli_start_up_does_not_import_torch():
    code = (
        "import sys; import musictext.cli.app, musictext.cli.train, musictext.cli.eval, musictext.evaluation, "
        "musictext.model.heads, musictext.pairs; print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "False"


# Choosing the blend, learned concepts (numpy only, tiny arrays) -----------------------------------


class _FakeView:
    """Stands in for a Library view: fixed concept and joint scores per query."""

    def __init__(self, concept: dict, joint: dict | None = None):
        self.concept, self.joint = concept, joint or concept

    def text_scores(self, query, rows):
        return self.concept[query], None, {}

    def blended_scores(self, query, rows, share):
        return (1 - share) * self.concept[query] + share * self.joint[query], None, {}


def test_blend_falls_back_to_the_base_unless_training_robustly_helps():
    from musictext.train import blend

    rng = np.random.default_rng(0)
    n = 60
    y = np.zeros(n, bool)
    y[:20] = True
    noise = rng.normal(size=n)
    good = y * 2.0 + 0.3 * noise  # separates the word
    weak = y * 0.3 + noise  # barely does
    base = _FakeView({"organ": weak, "piano": good, "rare": noise})
    trained = _FakeView({"organ": weak, "piano": good, "rare": noise}, {"organ": good, "piano": weak, "rare": good})
    labels = np.stack([y, y, np.eye(n, dtype=bool)[0]], axis=1)  # "rare" is on one file only
    rows = np.arange(n)
    words = blend.choose_words(trained, base, ["organ", "piano", "rare"], labels, rows, learned={})
    by = {w.word: w for w in words}
    assert by["organ"].rule == 1.0 and by["organ"].auc > by["organ"].base_auc + 0.2  # the joint space helps
    assert by["piano"].rule == "base" and by["piano"].auc == by["piano"].base_auc  # it does not: the base stays
    assert by["rare"].rule == "base" and by["rare"].base_auc is None  # too few files to tell
    # a tie or a gain smaller than MIN_GAIN is no reason to leave the base
    assert not blend.robustly_better(y, good, good) and not blend.robustly_better(y, good + 1e-3 * noise, good)
    assert blend.robustly_better(y, good, weak)
    manifest = blend.blend_manifest("base", words)
    assert manifest["default"] == "base" and manifest["words"] == {"organ": 1.0}


def test_learned_probes_rank_a_word_out_of_fold_and_keep_their_log_odds():
    from musictext.train import learned as lc

    rng = np.random.default_rng(1)
    n, tags, d = 80, 5, 12
    probs = rng.uniform(0.01, 0.99, (n, tags))
    pooled = rng.normal(size=(n, d))
    labels = np.stack([pooled[:, 0] > 0.5, pooled[:, 1] + pooled[:, 2] > 0], axis=1)
    oof, lam = lc.out_of_fold(["a", "b"], labels, probs, pooled, seed=0)
    assert lam in lc.LAMBDAS and oof.shape == (n, 2)
    assert all(roc_auc(labels[:, j], oof[:, j]) > 0.85 for j in range(2))
    probes = lc.fit_words(["a", "b"], labels, probs, pooled, np.arange(n), lam)
    assert probes.weight.shape == (2, tags + d) and probes.train_files == [int(v) for v in labels.sum(0)]
    p = 1 / (1 + np.exp(-lc.logits(probes, probs, pooled)))  # calibrated: probabilities track the labels
    assert p[labels].mean() > 0.6 > 0.4 > p[~labels].mean()
    assert probes.subset([1]).names == ["b"]
    # words: tags as given, else the content words and two-word runs of a caption
    words = lc.file_words([Pair("/x", "a slow accordion piece at 90 bpm", ()), Pair("/y", None, ("Organ", "slow"))])
    assert words == {"/x": {"slow", "accordion", "slow accordion", "bpm"}, "/y": {"organ", "slow"}}


@pytest.mark.parametrize("mood", [None, "vibenet@0.1.0+m1"])
def test_training_space_has_a_column_for_every_concept(monkeypatch, mood):
    """The in-memory Space `train` scores candidate words in must have every column the bundle's
    concepts name: with the mood extra installed those include the mood axes (a caption word such as
    "acoustic" once crashed training with an IndexError there). Library tracks bring their axes;
    files outside the library get the column mean."""
    torch = pytest.importorskip("torch")  # noqa: F841 - the trainer's module needs it
    from musictext.library import space
    from musictext.library.view import Library
    from musictext.model.bundle import get_bundle
    from musictext.train import trainer
    from musictext.train.features import FeatureTable

    monkeypatch.setattr(space, "active_mood", lambda: mood)
    base = get_bundle(None)
    n, rng = 6, np.random.default_rng(0)
    table = FeatureTable(
        [f"/music/{i}.flac" for i in range(n)],
        rng.uniform(0.01, 0.99, (n, base.manifest["dims"]["tags"])).astype(np.float32),
        rng.normal(size=(n, base.manifest["dims"]["audio_features"])).astype(np.float32),
        np.full((n, 6), np.nan, np.float32),
        rng.normal(size=(n, 7)).astype(np.float32) if mood else None,
    )
    built = trainer._space(base, table, np.zeros((n, base.manifest["dims"]["joint"]), np.float32))
    widest = max(col for c in space.bundle_concepts(base) for col, _ in c.columns)
    assert widest < built.raw.shape[1]
    scores = Library.over(base, built).text_scores("acoustic instrumental", None)[0]
    assert scores.shape == (n,) and np.isfinite(scores).all()
