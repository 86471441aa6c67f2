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
import os
import random
import re
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from musictext import __version__
from musictext.bundle import MANIFEST, Bundle, get_bundle, sha256_file
from musictext.errors import DependencyError, LibraryBusyError, ModelError, MusictextError, NotFoundError
from musictext.evaluation import retrieval_metrics
from musictext.train import require_torch
from musictext.train.features import DESCRIPTORS, FeatureTable, gather_features
from musictext.train.pairs import Pair, caption_variants, exclusive_tags, library_pairs, read_pairs, swapped_negatives

LOSSES = ("infonce", "triplet")
CHECKPOINT = "checkpoint.pt"
ONNX_TOLERANCE = 1e-5
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

    def as_json(self) -> dict:
        return asdict(self)


class TrainProgress(Protocol):
    def start(self, epochs: int, done: int) -> None: ...
    def epoch(self, stats: EpochStats) -> None: ...
    def skip(self, path: str, reason: str) -> None: ...
    def note(self, message: str) -> None: ...


class SilentTrainProgress:
    def start(self, epochs: int, done: int) -> None: ...
    def epoch(self, stats: EpochStats) -> None: ...
    def skip(self, path: str, reason: str) -> None: ...
    def note(self, message: str) -> None: ...


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
    from musictext.bundle import list_bundles

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
        from musictext.store import Store

        with Store(db_path(), readonly=True) as store:
            rows = store.conn.execute("SELECT path, tags_json FROM tracks ORDER BY path").fetchall()
        found = library_pairs({r[0]: json.loads(r[1] or "{}") for r in rows})
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


def prepare(pairs: list[Pair], table: FeatureTable, base: Bundle, config: TrainConfig,
            note=lambda m: None) -> TrainingData:
    from musictext.textspace import text_side

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

    variants = np.array([[tid(t) for t in caption_variants(p, config.variants, rng, config.text_dropout)]
                         for p in train_pairs], dtype=np.int64).reshape(len(train_pairs), max(1, config.variants))
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
        files=files, features=table.rows(fill), descriptor_fill=fill, train_files=train_idx, val_files=val_idx,
        texts=vectors.astype(np.float32), pair_file=np.array([index[p.audio] for p in train_pairs], np.int64),
        pair_group=pair_group, variants=variants, negatives=negatives, val_queries=val_queries,
        val_relevant=val_relevant, n_pairs=len(pairs),
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
        self.head = JointHead(torch.from_numpy(tag_vecs), mean, std, config.hidden, config.dropout,
                              undropped=len(DESCRIPTORS)).to(device)
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
            len(b), neg_idx.shape[1], texts.shape[1])
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
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def train(config: TrainConfig, progress: TrainProgress | None = None) -> TrainReport:
    """Train a head on ``config``'s pairs and write it as the bundle ``config.name``."""
    torch = require_torch()
    progress = progress or SilentTrainProgress()
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
    table = gather_features([p.audio for p in pairs], base, progress.skip, progress.note)
    usable = set(table.paths)
    pairs = [p for p in pairs if p.audio in usable]
    if len(pairs) < 2 or len(usable) < 2:
        raise MusictextError(f"need at least 2 usable pairs on 2 files, found {len(pairs)} on {len(usable)}")
    data = prepare(pairs, table, base, config, progress.note)
    if len(data.pair_file) < 2:
        raise MusictextError("fewer than 2 training pairs after the held-out split; lower --val-fraction")
    device = pick_device(torch, config.device)

    from musictext.textspace import text_side

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
            differs = sorted(k for k in set(fingerprint) | set(ckpt["fingerprint"])
                             if fingerprint.get(k) != ckpt["fingerprint"].get(k))
            if differs:
                raise MusictextError(f"cannot resume: the checkpoint was made with different {', '.join(differs)}",
                                     ckpt_path)
            model.load(ckpt["model"])
            model.optimizer.load_state_dict(ckpt["optimizer"])
            best = {"epoch": ckpt["best_epoch"], "score": tuple(ckpt["best_score"]),
                    "metrics": ckpt["best_metrics"], "state": ckpt["best_state"]}
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
            _save_checkpoint(torch, ckpt_path, {
                "fingerprint": fingerprint, "epoch": epoch, "model": model.state(),
                "optimizer": model.optimizer.state_dict(), "best_epoch": best["epoch"],
                "best_score": list(best["score"]), "best_metrics": best["metrics"], "best_state": best["state"],
                "zero_shot": zero_shot, "history": history, "bad_epochs": bad,
                "torch_rng": torch.get_rng_state(), "generator_rng": gen.get_state(),
            })
            progress.epoch(EpochStats(epoch, loss, val, best["epoch"], time.perf_counter() - t_epoch))
            if has_val and bad >= config.patience:
                stopped = True
                progress.note(f"stopping early: no better validation R@10 for {bad} epochs")
                break
        model.load(best["state"])
        model.train(False)
        bundle, max_diff = write_bundle(torch, model, data, base, config, {
            "pairs": config.pairs and str(Path(config.pairs).expanduser().resolve()),
            "from_library": config.from_library, "pairs_sha256": digest, "n_pairs": data.n_pairs,
            "train_files": len(data.train_files), "val_files": len(data.val_files),
            "epochs_run": history[-1]["epoch"] if history else 0, "best_epoch": best["epoch"],
            "stopped_early": stopped, "device": device, "torch": torch.__version__,
            "temperature": round(float(1 / model.logit_scale.detach().exp().clamp(max=100.0)), 5)
            if config.loss == "infonce" else None,
            "seconds": round(time.perf_counter() - t0, 2), "history": history,
        }, {"zero_shot": zero_shot, "trained": best["metrics"]})
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
    report = TrainReport(
        name=bundle.name, path=str(bundle.path), model_id=bundle.model_id, pairs=data.n_pairs,
        train_files=len(data.train_files), val_files=len(data.val_files),
        epochs_run=history[-1]["epoch"] if history else 0, best_epoch=best["epoch"], stopped_early=stopped,
        zero_shot=zero_shot, trained=best["metrics"], onnx_max_abs_diff=max_diff,
        seconds=round(time.perf_counter() - t0, 2), device=device,
    )
    report.projected = _project_library(bundle, progress, report)
    return report


def _project_library(bundle: Bundle, progress: TrainProgress, report: TrainReport) -> int | None:
    """Re-project the library with the new head when it holds features of the base model."""
    from musictext.config import db_path
    from musictext.store import Store

    with Store(db_path(), readonly=True) as store:
        if not store.feature_counts().get(bundle.base or "", 0):
            return None
    from musictext.train.project import reproject

    class _Notes:
        def start(self, total: int) -> None: ...
        def advance(self, path: str, audio_seconds: float) -> None: ...
        def skip(self, path: str, reason: str) -> None: progress.skip(path, reason)
        def note(self, message: str) -> None: progress.note(message)

    try:
        return reproject(bundle, _Notes()).indexed
    except LibraryBusyError:
        report.notes.append(f"the library is busy: run `musictext index --model {bundle.name} PATH` later")
        return None


# Export ---------------------------------------------------------------------------------------------


def export_onnx(torch, module, example, path: Path, input_name: str, output_name: str) -> None:
    """The legacy TorchScript exporter: it needs nothing beyond torch (the dynamo one needs onnxscript)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), str(path), input_names=[input_name], output_names=[output_name],
            dynamic_axes={input_name: {0: "n"}, output_name: {0: "n"}}, opset_version=17, dynamo=False,
        )


def verify_onnx(torch, module, example, path: Path) -> float:
    """Max |ONNX − torch| on ``example``; refuses (ModelError) above ONNX_TOLERANCE."""
    from musictext.runtime import make_session

    session = make_session(path)
    name = session.get_inputs()[0].name
    got = session.run(None, {name: example.cpu().numpy()})[0]
    with torch.no_grad():
        want = module(example).cpu().numpy()
    diff = float(np.abs(got - want).max()) if got.size else 0.0
    if not np.isfinite(got).all() or diff > ONNX_TOLERANCE:
        raise ModelError(f"exported graph differs from torch by {diff:.2e} (> {ONNX_TOLERANCE:g})", path)
    return diff


def _file_entry(folder: Path, filename: str) -> dict:
    path = folder / filename
    return {"path": filename, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_bundle(torch, model: Model, data: TrainingData, base: Bundle, config: TrainConfig, training: dict,
                 validation: dict) -> tuple[Bundle, float]:
    """Export, verify and write the bundle folder atomically (a partial folder, then a rename)."""
    from musictext.config import user_models_dir

    root = user_models_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / config.name
    tmp = root / f".{config.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    device = next(model.head.parameters()).device
    head = model.head.to("cpu").eval()
    example = torch.from_numpy(data.features)
    export_onnx(torch, head, example, tmp / "head.onnx", "features", "joint")
    max_diff = verify_onnx(torch, head, example, tmp / "head.onnx")
    files = {"head": _file_entry(tmp, "head.onnx")}
    if model.adapter is not None:
        adapter = model.adapter.to("cpu").eval()
        texts = torch.from_numpy(data.texts)
        export_onnx(torch, adapter, texts, tmp / "text_adapter.onnx", "text", "text")
        max_diff = max(max_diff, verify_onnx(torch, adapter, texts, tmp / "text_adapter.onnx"))
        files["text_adapter"] = _file_entry(tmp, "text_adapter.onnx")
        model.adapter.to(device)
    model.head.to(device)
    for role in ("text", "tokenizer"):  # the frozen text tower, shared with the base by a hard link
        src = base.file(role)
        _link_or_copy(src, tmp / src.name)
        files[role] = _file_entry(tmp, src.name)
    width = data.features.shape[1]
    n_tags = len(base.manifest["tags"])
    manifest = {
        "name": config.name,
        "version": files["head"]["sha256"][:8],
        "kind": "trained",
        "base": base.model_id,
        "scoring": "joint",
        "pipeline_version": base.manifest.get("pipeline_version", 1),
        "description": f"head trained by `musictext train` on the features of {base.name}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "musictext_version": __version__,
        "licenses": base.manifest.get("licenses", {}) | {"head": "trained by the user on their own pairs"},
        "files": files,
        "frontend": base.manifest.get("frontend", {}),
        "tags": base.manifest["tags"],
        "prompt_template": base.manifest.get("prompt_template", "{} music"),
        "outputs": {"head": ["joint"]} | ({"text_adapter": ["text"]} if model.adapter is not None else {}),
        "dims": {"tags": n_tags, "audio_features": width - n_tags - len(DESCRIPTORS),
                 "head_input": width, "text": int(data.texts.shape[1]), "joint": int(data.texts.shape[1])},
        "head": {
            "input": [{"name": "probs", "size": n_tags}, {"name": "pooled", "size": width - n_tags - len(DESCRIPTORS)},
                      {"name": "descriptors", "size": len(DESCRIPTORS), "names": list(DESCRIPTORS)}],
            "descriptor_fill": [round(float(v), 6) for v in data.descriptor_fill],
            "hidden": config.hidden,
            "zero_shot_residual": True,
            "onnx_max_abs_diff": max_diff,
        },
        "training": {k: v for k, v in asdict(config).items() if k not in ("name", "resume", "pairs")} | training,
        "validation": validation,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (tmp / "MODEL_CARD.md").write_text(model_card(manifest), encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return Bundle(config.name, target, manifest), max_diff


def _fmt_metrics(m: dict | None) -> str:
    if not m:
        return "n/a (no held-out files)"
    scores = ", ".join(f"{k} {m[k]:.3f}" for k in ("r@1", "r@5", "r@10", "map@10"))
    return f"{scores}, median rank {m['median_rank']:g}"


def model_card(manifest: dict) -> str:
    t, v = manifest["training"], manifest["validation"]
    source = t.get("pairs") or ""
    if t.get("from_library"):
        source = (source + " + " if source else "") + "tags of the library's files"
    return f"""# {manifest['name']} {manifest['version']}

A joint audio-text head trained by `musictext train` on your own pairs. It projects the cached
audio features of **{manifest['base']}** (musicnn tag probabilities, penultimate features and
measured descriptors) into the frozen all-MiniLM-L6-v2 text space; search ranks tracks by the dot
product of a query's text vector with these joint vectors.

- Trained on: {source} ({t['n_pairs']} pairs; {t['train_files']} files for training, {t['val_files']} held out)
- Loss: {t['loss']}{f" (margin {t['margin']})" if t['loss'] == 'triplet' else ''}, {t['epochs_run']} epochs run,
  best epoch {t['best_epoch']}{' (stopped early)' if t['stopped_early'] else ''}; seed {t['seed']}, device {t['device']}
- Head: zero-shot residual + linear{f" + MLP ({t['hidden']} hidden)" if t['hidden'] else ''} on standardised
  features; text adapter: {'yes' if t['text_adapter'] else 'no'}
- Held-out text→audio, before training (zero-shot head): {_fmt_metrics(v['zero_shot'])}
- Held-out text→audio, this model: {_fmt_metrics(v['trained'])}
- ONNX export checked against torch: max abs difference {manifest['head']['onnx_max_abs_diff']:.1e}

Use it with `musictext index --model {manifest['name']} PATH` (re-projects stored features, no
decoding), then `musictext search --model {manifest['name']} "..."`.

It knows only what its pairs taught it: a few hundred pairs from one source make a model for that
source. Audio and captions you have no right to share stay in this folder; the head's weights can
reveal something about them.
"""
