"""`musictext train`: pairs -> cached features -> head -> exported ONNX -> model bundle.

The text tower stays frozen: every caption variant is embedded once before the first epoch, so an
epoch is a few matrix products over cached features and runs in well under a second on a CPU for
a few thousand pairs. The held-out files (split by file, seeded) drive early stopping on their
text→audio R@10 (ties broken by mAP@10); the best epoch is what gets exported.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from musictext.atomic import atomic_path
from musictext.errors import DependencyError, LibraryBusyError, ModelError, MusictextError, NotFoundError
from musictext.evaluation import retrieval_metrics, roc_auc
from musictext.model.bundle import Bundle, get_bundle
from musictext.pairs import Pair, caption_variants, exclusive_tags, library_pairs, read_pairs, swapped_negatives
from musictext.progress import SilentProgress, TrainProgress
from musictext.train import require_torch
from musictext.train.export import finish_bundle, stage_bundle
from musictext.train.features import DESCRIPTORS, FeatureTable, gather_features

LOSSES = ("infonce", "triplet")
CHECKPOINT = "checkpoint.pt"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class TrainConfig:
    name: str
    pairs: str | None = None
    from_library: bool = False
    base: str | None = None
    loss: str = "infonce"
    margin: float = 0.2
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.2
    patience: int = 10
    hidden: int = 0
    dropout: float = 0.2
    text_dropout: float = 0.3
    variants: int = 8
    swaps: int = 4
    temperature: float = 0.07
    text_adapter: bool = False
    resume: bool = False


# Settings that may change between a run and its --resume (everything else must match).
RESUMABLE = {"epochs", "patience", "device", "resume"}


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    loss: float
    val: dict | None
    best_epoch: int
    seconds: float


@dataclass
class TrainReport:
    name: str
    path: str
    model_id: str
    pairs: int
    train_files: int
    val_files: int
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    zero_shot: dict | None
    trained: dict | None
    onnx_max_abs_diff: float
    seconds: float
    device: str
    projected: int | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blend: dict = field(default_factory=dict)  # what the validation files chose (musictext.train.blend)
    words: list[dict] = field(default_factory=list)  # per caption word: rule, validation ROC-AUC before/after
    new_concepts: list[str] = field(default_factory=list)
    refined_concepts: list[str] = field(default_factory=list)  # base concepts that gained a learned column
    head_only: dict | None = None  # the head's own joint-space metrics at its best epoch

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class TrainingData:
    """Everything the epochs need, as arrays: features per file, caption vectors per pair."""

    files: list[str]
    features: np.ndarray  # [files, width] head inputs
    descriptor_fill: np.ndarray  # [6] training means, for unmeasured descriptors
    train_files: np.ndarray  # indices into files
    val_files: np.ndarray
    texts: np.ndarray  # [unique texts, d] frozen text vectors
    pair_file: np.ndarray  # [train pairs] file index
    pair_group: np.ndarray  # [train pairs] caption group (same key = positives)
    variants: np.ndarray  # [train pairs, V] text index
    negatives: np.ndarray  # [train pairs, K] text index (-1: none)
    val_queries: np.ndarray  # [val captions] text index
    val_relevant: np.ndarray  # [val captions, val files] bool
    n_pairs: int
    val_captions: list[str] = field(default_factory=list)


def config_fingerprint(config: TrainConfig, pairs_digest: str) -> dict:
    d = {k: v for k, v in asdict(config).items() if k not in RESUMABLE}
    d["pairs_sha256"] = pairs_digest
    return d


def checkpoint_dir(name: str) -> Path:
    from musictext.config import home

    return home() / "train" / name


def _check_name(name: str) -> None:
    if not NAME_RE.match(name or ""):
        raise MusictextError(f"--name {name!r}: use letters, digits, '.', '_' or '-' (up to 64)")
    from musictext.model.bundle import list_bundles

    for b in list_bundles():
        if b.name == name and b.builtin:
            raise MusictextError(f"--name {name!r} is a built-in model; choose another name")


def _load_pairs(config: TrainConfig) -> tuple[list[Pair], str]:
    pairs: list[Pair] = []
    digest = hashlib.sha256()
    if config.pairs:
        pairs += read_pairs(config.pairs)
    if config.from_library:
        from musictext.config import db_path
        from musictext.library.store import Store

        with Store(db_path(), readonly=True) as store:
            tags_by_path = store.all_track_tags()
        found = library_pairs(tags_by_path)
        if not found:
            raise NotFoundError("no track in the library has genre, mood, grouping or comment tags to learn from")
        pairs += found
    if not config.pairs and not config.from_library:
        raise MusictextError("give --pairs FILE, --from-library, or both")
    for p in pairs:
        digest.update(json.dumps([p.audio, p.text, list(p.tags)]).encode())
    return pairs, digest.hexdigest()


def split_files(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded held-out split by file: (train indices, validation indices), both sorted."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = 0 if n < 3 or fraction <= 0 else min(max(1, int(round(fraction * n))), n - 2)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def prepare(
    pairs: list[Pair], table: FeatureTable, base: Bundle, config: TrainConfig, note=lambda m: None
) -> TrainingData:
    from musictext.model.textspace import text_side

    files = table.paths
    index = {p: i for i, p in enumerate(files)}
    train_idx, val_idx = split_files(len(files), config.val_fraction, config.seed)
    val_set = set(val_idx.tolist())
    train_pairs = [p for p in pairs if index[p.audio] not in val_set]
    val_pairs = [p for p in pairs if index[p.audio] in val_set]
    desc = table.descriptors[train_idx]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: no descriptor measured
        fill = np.nan_to_num(np.nanmean(desc, axis=0), nan=0.0).astype(np.float32)
    rng = random.Random(config.seed)
    exclusive = exclusive_tags(train_pairs)
    texts: dict[str, int] = {}

    def tid(text: str) -> int:
        return texts.setdefault(text, len(texts))

    variants = np.array(
        [[tid(t) for t in caption_variants(p, config.variants, rng, config.text_dropout)] for p in train_pairs],
        dtype=np.int64,
    ).reshape(len(train_pairs), max(1, config.variants))
    negatives = np.full((len(train_pairs), config.swaps), -1, dtype=np.int64)
    if config.swaps:
        for i, p in enumerate(train_pairs):
            for j, t in enumerate(swapped_negatives(p, config.swaps, rng, exclusive)):
                negatives[i, j] = tid(t)
    groups: dict[str, int] = {}
    pair_group = np.array([groups.setdefault(p.key, len(groups)) for p in train_pairs], dtype=np.int64)
    val_captions = list(dict.fromkeys(p.caption for p in val_pairs))
    val_queries = np.array([tid(c) for c in val_captions], dtype=np.int64)
    val_col = {int(f): i for i, f in enumerate(val_idx)}
    val_relevant = np.zeros((len(val_captions), len(val_idx)), bool)
    for p in val_pairs:
        val_relevant[val_captions.index(p.caption), val_col[index[p.audio]]] = True
    note(f"embedding {len(texts)} caption(s) with the frozen text tower")
    vectors = text_side(base).encode(list(texts))
    return TrainingData(
        files=files,
        features=table.rows(fill),
        descriptor_fill=fill,
        train_files=train_idx,
        val_files=val_idx,
        texts=vectors.astype(np.float32),
        pair_file=np.array([index[p.audio] for p in train_pairs], np.int64),
        pair_group=pair_group,
        variants=variants,
        negatives=negatives,
        val_queries=val_queries,
        val_relevant=val_relevant,
        n_pairs=len(pairs),
        val_captions=val_captions,
    )


def pick_device(torch, device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise MusictextError(f"unknown device {device!r} (choose from auto, cpu, cuda)")
    if device == "cuda" and not torch.cuda.is_available():
        raise DependencyError("--device cuda: this PyTorch build sees no CUDA device")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class Model:
    """The head, the optional text adapter and the temperature, with one optimiser."""

    def __init__(self, torch, data: TrainingData, tag_vecs: np.ndarray, config: TrainConfig, device: str):
        from musictext.train.head import JointHead, TextAdapter

        self.torch = torch
        x_train = torch.from_numpy(data.features[data.train_files])
        raw = JointHead.raw_features(x_train, tag_vecs.shape[0])
        mean, std = raw.mean(dim=0), raw.std(dim=0, unbiased=False) if len(raw) > 1 else torch.ones(raw.shape[1])
        self.head = JointHead(
            torch.from_numpy(tag_vecs), mean, std, config.hidden, config.dropout, undropped=len(DESCRIPTORS)
        ).to(device)
        self.adapter = TextAdapter(tag_vecs.shape[1]).to(device) if config.text_adapter else None
        self.logit_scale = torch.nn.Parameter(torch.tensor(float(np.log(1 / config.temperature)), device=device))
        decay, no_decay = [], []
        for module in (self.head, self.adapter):
            if module is None:
                continue
            for param in module.parameters():
                (decay if param.ndim == 2 else no_decay).append(param)
        if config.loss == "infonce":
            no_decay.append(self.logit_scale)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.lr,
        )

    def train(self, mode: bool = True) -> None:
        self.head.train(mode)
        if self.adapter is not None:
            self.adapter.train(mode)

    def text(self, t):
        return t if self.adapter is None else self.adapter(t)

    def state(self) -> dict:
        return {
            "head": copy.deepcopy(self.head.state_dict()),
            "adapter": copy.deepcopy(self.adapter.state_dict()) if self.adapter is not None else None,
            "logit_scale": self.logit_scale.detach().clone(),
        }

    def load(self, state: dict) -> None:
        self.head.load_state_dict(state["head"])
        if self.adapter is not None and state.get("adapter") is not None:
            self.adapter.load_state_dict(state["adapter"])
        with self.torch.no_grad():
            self.logit_scale.copy_(state["logit_scale"])


def _batches(order, size: int):
    """Batches of ``size``; a lone last item joins the previous batch (a batch of one has no negatives)."""
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        tail = chunks.pop()
        chunks[-1] = order[len(order) - len(tail) - len(chunks[-1]) :]
    return chunks


def run_epoch(torch, model: Model, data: TrainingData, config: TrainConfig, gen, device: str) -> float:
    from musictext.train.head import infonce_loss, triplet_loss

    model.train(True)
    x = torch.from_numpy(data.features).to(device)
    texts = torch.from_numpy(data.texts).to(device)
    pair_file = torch.from_numpy(data.pair_file).to(device)
    pair_group = torch.from_numpy(data.pair_group).to(device)
    variants = torch.from_numpy(data.variants).to(device)
    negatives = torch.from_numpy(data.negatives).to(device)
    n = len(data.pair_file)
    order = torch.randperm(n, generator=gen)
    choice = torch.randint(variants.shape[1], (n,), generator=gen)
    total, count = 0.0, 0
    for b in _batches(order, config.batch_size):
        b = b.to(device)
        files = pair_file[b]
        audio = model.head(x[files])
        text = model.text(texts[variants[b, choice[b.cpu()].to(device)]])
        positives = (pair_group[b][:, None] == pair_group[b][None, :]) | (files[:, None] == files[None, :])
        neg_idx = negatives[b]
        neg_mask = neg_idx >= 0
        neg_text = model.text(texts[neg_idx.clamp_min(0)].reshape(-1, texts.shape[1])).reshape(
            len(b), neg_idx.shape[1], texts.shape[1]
        )
        if config.loss == "infonce":
            loss = infonce_loss(audio, text, positives, model.logit_scale, neg_text, neg_mask)
        else:
            loss = triplet_loss(audio, text, positives, config.margin, neg_text, neg_mask)
        model.optimizer.zero_grad()
        loss.backward()
        model.optimizer.step()
        total += float(loss.detach()) * len(b)
        count += len(b)
    return total / max(count, 1)


def validate(torch, model: Model, data: TrainingData, device: str) -> dict | None:
    if not len(data.val_files) or not len(data.val_queries):
        return None
    model.train(False)
    with torch.no_grad():
        audio = model.head(torch.from_numpy(data.features[data.val_files]).to(device))
        text = model.text(torch.from_numpy(data.texts[data.val_queries]).to(device))
        scores = (text @ audio.T).cpu().numpy()
    return retrieval_metrics(scores, data.val_relevant)


def _score(metrics: dict | None) -> tuple[float, float]:
    return (metrics["r@10"], metrics["map@10"]) if metrics else (0.0, 0.0)


def _save_checkpoint(torch, path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


# Below these, training data is too small to learn from or to check, and the summary says so.
FEW_PAIRS = 50
FEW_VAL_FILES = 10
FEW_FILES_PER_WORD = 2


@dataclass
class Final:
    """What `finalise` decided: the staged bundle, its blend and what the validation files said."""

    staged: Bundle
    max_diff: float
    blend: dict
    words: list
    before: dict | None
    after: dict | None
    learned: list[dict]
    warnings: list[str]


def _space(bundle: Bundle, table: FeatureTable, joint: np.ndarray, new_columns: np.ndarray | None = None):
    """An in-memory Space of the training set's files under ``bundle``, as `index` would store it;
    ``new_columns`` replace the columns of the bundle's own new learned concepts (out-of-fold scores)."""
    from musictext.audio.mood import MOOD_AXES
    from musictext.concepts import concept_matrix, standardise
    from musictext.library.space import Space, active_mood
    from musictext.model.probes import learned_concepts, probe_columns

    learned = learned_concepts(bundle)
    cols = probe_columns(learned, table.probs, table.pooled) if learned else None
    if new_columns is not None and new_columns.shape[1]:
        cols[:, -new_columns.shape[1] :] = new_columns
    desc = {k: table.descriptors[:, i] for i, k in enumerate(DESCRIPTORS)}
    mood = None
    if active_mood():  # the bundle's concepts then name mood columns: the matrix has them, as in the library
        mood = table.mood if table.mood is not None else np.full((len(table), len(MOOD_AXES)), np.nan, np.float32)
    raw = concept_matrix(table.probs, desc, cols, mood)
    mu, sd = standardise(raw)
    return Space(bundle.model_id, np.arange(len(table), dtype=np.int64), raw, mu, sd, joint.astype(np.float32))


def finalise(torch, model: Model, data: TrainingData, table: FeatureTable, pairs, base: Bundle, config, note) -> Final:
    """Learned concepts for the caption words, the exported bundle (staged), and the blend of
    trained and base scores chosen on held-out files (musictext.train.blend)."""
    from musictext.library.space import bundle_concepts
    from musictext.library.view import Library
    from musictext.model.heads import project_features
    from musictext.model.textspace import joint_vectors, text_side
    from musictext.train import blend
    from musictext.train import learned as lc

    base_view = Library.over(base, _space(base, table, joint_vectors(table.probs, text_side(base).tag_embeddings())))
    words_by_file = lc.file_words(pairs)
    vocab = sorted({w for ws in words_by_file.values() for w in ws})
    labels = np.zeros((len(table), len(vocab)), bool)
    col = {w: j for j, w in enumerate(vocab)}
    for i, path in enumerate(table.paths):
        for w in words_by_file.get(path, ()):
            labels[i, col[w]] = True
    everything = np.arange(len(table))
    device = next(model.head.parameters()).device
    with torch.no_grad():  # the head's joint vectors of every file (the exported graph is checked against it)
        joint = model.head(torch.from_numpy(data.features).to(device)).cpu().numpy()
    candidates = [w for w in lc.candidate_words(vocab, bundle_concepts(base)) if w in col]
    ok = lc.trainable(labels[:, [col[w] for w in candidates]], everything) if candidates else np.zeros(0, bool)
    candidates = [w for w, keep in zip(candidates, ok) if keep]
    candidates = sorted(candidates, key=lambda w: -int(labels[:, col[w]].sum()))[: lc.MAX_NEW]  # most files first
    known = lc.known_phrases(bundle_concepts(base))
    learned_auc: dict[str, dict] = {}
    dropped: list[str] = []
    unchecked: list[str] = []
    if candidates:
        note(f"learning concepts for {len(candidates)} caption word(s), checked out of fold on {len(table)} files")
        y = labels[:, [col[w] for w in candidates]]
        oof, lam = lc.out_of_fold(candidates, y, table.probs, table.pooled, seed=config.seed)
        probes = lc.fit_words(candidates, y, table.probs, table.pooled, everything, lam)
        staged, _ = stage_bundle(torch, model, data, base, config, probes)
        view = Library.over(staged, _space(staged, table, joint, oof))
        keep = []
        for j, word in enumerate(candidates):
            if word not in known and not blend.judged(y[:, j]):
                keep.append(j)  # a word the base does not know, on too few files to check: kept, and said so
                unchecked.append(word)
                learned_auc[word] = {"base": None, "learned": None}
                continue
            b = base_view.text_scores(word, None)[0]
            c = view.blended_scores(word, None, 0.0)[0]
            if blend.robustly_better(y[:, j], c, b, seed=j):
                keep.append(j)
                learned_auc[word] = {"base": round(roc_auc(y[:, j], b), 4), "learned": round(roc_auc(y[:, j], c), 4)}
            elif word not in known:
                dropped.append(word)
        probes = probes.subset(keep) if keep else None
        oof = oof[:, keep]
    else:
        probes, oof = None, None
    staged, max_diff = stage_bundle(torch, model, data, base, config, probes)
    exported = project_features(staged, table.probs, table.pooled, table.descriptors)
    if np.abs(exported - joint).max() > 1e-4:
        raise ModelError("the exported head's joint vectors differ from torch's", staged.path)
    # Out-of-fold probe columns: no file is scored by a probe that was fitted on it.
    trained_view = Library.over(staged, _space(staged, table, joint, oof), base=base_view)
    val = data.val_files
    note(f"choosing how trained and {base.name} scores combine, on {len(val)} validation file(s)")
    words = blend.choose_words(trained_view, base_view, vocab, labels, val, learned_auc)
    default, before, after = blend.choose_default(trained_view, base_view, data.val_captions, data.val_relevant, val)
    learned = [dict(c) for c in staged.manifest.get("learned_concepts", [])]
    for c in learned:
        if c.get("source") == "your captions" and c["name"] in learned_auc:
            c["validation_auc"] = learned_auc[c["name"]]["learned"]  # out of fold, every training file
            c["base_auc"] = learned_auc[c["name"]]["base"]
            c["joins_base_concept"] = c["name"] in known
    warnings = data_warnings(data, labels, vocab, before, after)
    if unchecked:
        warnings.append(
            f"{len(unchecked)} new word(s) are on too few files to check ({blend.MIN_FILES} with and without"
            f" the word are needed): kept as learned concepts, unchecked (the word alone keeps the base's scores):"
            f" {', '.join(unchecked[:12])}"
        )
    if dropped:
        warnings.append(
            f"{len(dropped)} new word(s) learned nothing the base model did not already rank as well (out of"
            f" fold), so they stay as the base scores them: {', '.join(dropped[:12])}"
        )
    return Final(staged, max_diff, blend.blend_manifest(default, words), words, before, after, learned, warnings)


def data_warnings(data: TrainingData, labels: np.ndarray, vocab: list[str], before, after) -> list[str]:
    """Plain warnings, with the numbers, for training data too small or unbalanced to trust."""
    out = []
    if data.n_pairs < FEW_PAIRS:
        out.append(
            f"only {data.n_pairs} pairs (fewer than {FEW_PAIRS}): a head learns little from so few;"
            " where the validation files cannot show a gain, the model scores as its base"
        )
    if len(data.val_files) < FEW_VAL_FILES:
        out.append(
            f"only {len(data.val_files)} validation file(s) (fewer than {FEW_VAL_FILES}): the before/after"
            " numbers below say little; add pairs or raise --val-fraction"
        )
    per_word = labels.sum(0)
    rare = [w for w, c in zip(vocab, per_word) if c <= FEW_FILES_PER_WORD]
    if rare:
        shown = ", ".join(f"{w} ({int(c)})" for w, c in zip(vocab, per_word) if c <= FEW_FILES_PER_WORD)
        out.append(
            f"{len(rare)} of {len(vocab)} word(s) are on {FEW_FILES_PER_WORD} files or fewer, too few to learn"
            f" or to check: {shown if len(shown) < 300 else shown[:300] + '…'}"
        )
    if before and after and before["r@10"] == 1.0 and after["r@10"] == 1.0:
        out.append(
            f"validation R@10 is 1.000 before and after training: too few validation files to tell"
            f" ({len(data.val_files)} file(s), {len(data.val_captions)} caption(s))"
        )
    return out


def train(config: TrainConfig, progress: TrainProgress | None = None) -> TrainReport:
    """Train a head on ``config``'s pairs and write it as the bundle ``config.name``."""
    torch = require_torch()
    progress = progress or SilentProgress()
    t0 = time.perf_counter()
    if config.loss not in LOSSES:
        raise MusictextError(f"unknown loss {config.loss!r} (choose from {', '.join(LOSSES)})")
    if config.epochs < 1 or config.batch_size < 2:
        raise MusictextError("--epochs must be at least 1 and --batch-size at least 2")
    _check_name(config.name)
    base = get_bundle(config.base)
    if not base.builtin:
        raise ModelError(f"--base {base.name}: a trained model cannot be the base; use the bundle it was trained from")
    pairs, digest = _load_pairs(config)
    table = gather_features([p.audio for p in pairs], base, progress)
    usable = set(table.paths)
    pairs = [p for p in pairs if p.audio in usable]
    if len(pairs) < 2 or len(usable) < 2:
        raise MusictextError(f"need at least 2 usable pairs on 2 files, found {len(pairs)} on {len(usable)}")
    data = prepare(pairs, table, base, config, progress.note)
    if len(data.pair_file) < 2:
        raise MusictextError("fewer than 2 training pairs after the held-out split; lower --val-fraction")
    device = pick_device(torch, config.device)

    from musictext.model.textspace import text_side

    tag_vecs = text_side(base).tag_embeddings()
    fingerprint = config_fingerprint(config, digest)
    ckpt_path = checkpoint_dir(config.name) / CHECKPOINT
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        model = Model(torch, data, tag_vecs, config, device)
        start, history, bad, stopped = 1, [], 0, False
        zero_shot = validate(torch, model, data, device)
        best = {"epoch": 0, "score": _score(zero_shot), "metrics": zero_shot, "state": model.state()}
        if config.resume:
            if not ckpt_path.exists():
                raise NotFoundError(f"no checkpoint to resume for {config.name!r}", ckpt_path)
            ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
            differs = sorted(
                k
                for k in set(fingerprint) | set(ckpt["fingerprint"])
                if fingerprint.get(k) != ckpt["fingerprint"].get(k)
            )
            if differs:
                raise MusictextError(
                    f"cannot resume: the checkpoint was made with different {', '.join(differs)}", ckpt_path
                )
            model.load(ckpt["model"])
            model.optimizer.load_state_dict(ckpt["optimizer"])
            best = {
                "epoch": ckpt["best_epoch"],
                "score": tuple(ckpt["best_score"]),
                "metrics": ckpt["best_metrics"],
                "state": ckpt["best_state"],
            }
            zero_shot, history, bad = ckpt["zero_shot"], ckpt["history"], ckpt["bad_epochs"]
            torch.set_rng_state(ckpt["torch_rng"])
            gen.set_state(ckpt["generator_rng"])
            start = ckpt["epoch"] + 1
            progress.note(f"resuming after epoch {ckpt['epoch']} (best so far: epoch {best['epoch']})")
        progress.start(config.epochs, start - 1)
        has_val = zero_shot is not None
        for epoch in range(start, config.epochs + 1):
            t_epoch = time.perf_counter()
            loss = run_epoch(torch, model, data, config, gen, device)
            val = validate(torch, model, data, device)
            if not has_val or _score(val) > best["score"]:
                best = {"epoch": epoch, "score": _score(val), "metrics": val, "state": model.state()}
                bad = 0
            else:
                bad += 1
            history.append({"epoch": epoch, "loss": round(loss, 6), **({"val": val} if val else {})})
            _save_checkpoint(
                torch,
                ckpt_path,
                {
                    "fingerprint": fingerprint,
                    "epoch": epoch,
                    "model": model.state(),
                    "optimizer": model.optimizer.state_dict(),
                    "best_epoch": best["epoch"],
                    "best_score": list(best["score"]),
                    "best_metrics": best["metrics"],
                    "best_state": best["state"],
                    "zero_shot": zero_shot,
                    "history": history,
                    "bad_epochs": bad,
                    "torch_rng": torch.get_rng_state(),
                    "generator_rng": gen.get_state(),
                },
            )
            progress.epoch(EpochStats(epoch, loss, val, best["epoch"], time.perf_counter() - t_epoch))
            if has_val and bad >= config.patience:
                stopped = True
                progress.note(f"stopping early: no better validation R@10 for {bad} epochs")
                break
        model.load(best["state"])
        model.train(False)
        final = finalise(torch, model, data, table, pairs, base, config, progress.note)
        head_metrics = best["metrics"]
        training = {
            "pairs": config.pairs and str(Path(config.pairs).expanduser().resolve()),
            "from_library": config.from_library,
            "pairs_sha256": digest,
            "n_pairs": data.n_pairs,
            "train_files": len(data.train_files),
            "val_files": len(data.val_files),
            "epochs_run": history[-1]["epoch"] if history else 0,
            "best_epoch": best["epoch"],
            "stopped_early": stopped,
            "device": device,
            "torch": torch.__version__,
            "temperature": round(float(1 / model.logit_scale.detach().exp().clamp(max=100.0)), 5)
            if config.loss == "infonce"
            else None,
            "seconds": round(time.perf_counter() - t0, 2),
            "history": history,
        }
        bundle = finish_bundle(
            final.staged,
            {
                "training": {k: v for k, v in asdict(config).items() if k not in ("name", "resume", "pairs")}
                | training,
                "validation": {
                    "zero_shot": final.before,
                    "trained": final.after,
                    "head_zero_shot": zero_shot,
                    "head_only": head_metrics,
                    "words": [w.as_json() for w in final.words],
                },
                "blend": final.blend,
                "warnings": final.warnings,
                **({"learned_concepts": final.learned} if final.learned else {}),
            },
        )
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
    report = TrainReport(
        name=bundle.name,
        path=str(bundle.path),
        model_id=bundle.model_id,
        pairs=data.n_pairs,
        train_files=len(data.train_files),
        val_files=len(data.val_files),
        epochs_run=history[-1]["epoch"] if history else 0,
        best_epoch=best["epoch"],
        stopped_early=stopped,
        zero_shot=final.before,
        trained=final.after,
        onnx_max_abs_diff=final.max_diff,
        seconds=round(time.perf_counter() - t0, 2),
        device=device,
        warnings=final.warnings,
        blend=final.blend,
        words=[w.as_json() for w in final.words],
        new_concepts=[
            c["name"] for c in final.learned if c.get("source") == "your captions" and not c.get("joins_base_concept")
        ],
        refined_concepts=[c["name"] for c in final.learned if c.get("joins_base_concept")],
        head_only=head_metrics,
    )
    report.projected = _project_library(bundle, progress, report)
    return report


def _project_library(bundle: Bundle, progress: TrainProgress, report: TrainReport) -> int | None:
    """Re-project the library with the new head when it holds features of the base model."""
    from musictext.config import db_path
    from musictext.library.store import Store

    with Store(db_path(), readonly=True) as store:
        if not store.feature_counts().get(bundle.base or "", 0):
            return None
    from musictext.library.index import reproject

    class _Notes:
        def start(self, total: int) -> None: ...
        def advance(self, path: str, audio_seconds: float) -> None: ...
        def skip(self, path: str, reason: str) -> None:
            progress.skip(path, reason)

        def note(self, message: str) -> None:
            progress.note(message)

    try:
        return reproject(bundle, _Notes())
    except LibraryBusyError:
        report.notes.append(f"the library is busy: run `musictext index --model {bundle.name} PATH` later")
        return None
