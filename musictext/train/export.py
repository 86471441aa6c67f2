"""A trained head becomes a model bundle: ONNX exported from torch and checked against it, the base
bundle's towers referenced, a manifest with checksums and a model card."""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from musictext import __version__
from musictext.atomic import swap_folder
from musictext.errors import ModelError
from musictext.model.bundle import MANIFEST, Bundle, sha256_file
from musictext.model.textspace import TAG_PROMPT
from musictext.train.features import DESCRIPTORS

if TYPE_CHECKING:
    from musictext.train.learned import Probes
    from musictext.train.trainer import Model, TrainConfig, TrainingData

ONNX_TOLERANCE = 1e-5


def export_onnx(torch, module, example, path: Path, input_name: str, output_name: str) -> None:
    """The legacy TorchScript exporter: it needs nothing beyond torch (the dynamo one needs onnxscript)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "n"}, output_name: {0: "n"}},
            opset_version=17,
            dynamo=False,
        )


def verify_onnx(torch, module, example, path: Path) -> float:
    """Max |ONNX − torch| on ``example``; refuses (ModelError) above ONNX_TOLERANCE."""
    from musictext.model.runtime import make_session

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


def stage_bundle(
    torch, model: Model, data: TrainingData, base: Bundle, config: TrainConfig, probes: Probes | None
) -> tuple[Bundle, float]:
    """Export and verify the head (and text adapter, and new learned concepts) into a partial
    folder with a first manifest; `finish_bundle` completes it once the blend is chosen."""
    from musictext.config import user_models_dir

    root = user_models_dir()
    root.mkdir(parents=True, exist_ok=True)
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
    learned = []
    if probes is not None:  # the base's learned concepts and the new ones, in one file
        from musictext.model.probes import learned_concepts

        shipped = learned_concepts(base)
        weight, bias = probes.weight, probes.bias
        if shipped is not None:
            weight, bias = np.concatenate([shipped.weight, weight]), np.concatenate([shipped.bias, bias])
            learned = [dict(c) for c in base.manifest.get("learned_concepts", [])]
        np.savez(tmp / "probes.npz", weight=weight.astype(np.float32), bias=bias.astype(np.float32))
        files["probes"] = _file_entry(tmp, "probes.npz")
        learned += [
            {"name": n, "phrases": [], "train_clips": c, "source": "your captions"}
            for n, c in zip(probes.names, probes.train_files)
        ]
    width = data.features.shape[1]
    n_tags = len(base.manifest["tags"])
    manifest = {
        "name": config.name,
        "version": files["head"]["sha256"][:8],
        "kind": "trained",
        "base": base.model_id,
        # The text tower and tokenizer are the base's, referenced by checksum, not copied.
        "base_files": {role: base.sha256(role) for role in ("text", "tokenizer")},
        "scoring": "joint",
        "pipeline_version": base.manifest.get("pipeline_version", 1),
        "description": f"head trained by `musictext train` on the features of {base.name}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "musictext_version": __version__,
        "licenses": base.manifest.get("licenses", {}) | {"head": "trained by the user on their own pairs"},
        "files": files,
        "frontend": base.manifest.get("frontend", {}),
        "tags": base.manifest["tags"],
        "prompt_template": base.manifest.get("prompt_template", TAG_PROMPT),
        "outputs": {"head": ["joint"]} | ({"text_adapter": ["text"]} if model.adapter is not None else {}),
        "dims": {
            "tags": n_tags,
            "audio_features": width - n_tags - len(DESCRIPTORS),
            "head_input": width,
            "text": int(data.texts.shape[1]),
            "joint": int(data.texts.shape[1]),
        },
        "head": {
            "input": [
                {"name": "probs", "size": n_tags},
                {"name": "pooled", "size": width - n_tags - len(DESCRIPTORS)},
                {"name": "descriptors", "size": len(DESCRIPTORS), "names": list(DESCRIPTORS)},
            ],
            "descriptor_fill": [round(float(v), 6) for v in data.descriptor_fill],
            "hidden": config.hidden,
            "zero_shot_residual": True,
            "onnx_max_abs_diff": max_diff,
        },
        **({"learned_concepts": learned} if learned else {}),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return Bundle(config.name, tmp, manifest), max_diff


def finish_bundle(staged: Bundle, extra: dict) -> Bundle:
    """Write the full manifest (``extra``: training, validation, blend, warnings) and the model card,
    then swap the folder in, so that a model of this name exists at every moment."""
    manifest = staged.manifest | extra
    tmp = staged.path
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (tmp / "MODEL_CARD.md").write_text(model_card(manifest), encoding="utf-8")
    root, name = tmp.parent, staged.name
    target = root / name
    swap_folder(tmp, target)
    return Bundle(name, target, manifest)


def _fmt_metrics(m: dict | None) -> str:
    if not m:
        return "n/a (no held-out files)"
    scores = ", ".join(f"{k} {m[k]:.3f}" for k in ("r@1", "r@5", "r@10", "map@10"))
    return f"{scores}, median rank {m['median_rank']:g}"


def _card_blend(manifest: dict) -> str:
    blend = manifest.get("blend") or {}
    words = manifest["validation"].get("words") or []
    default = blend.get("default", "base")
    share = "the base model's scores" if default == "base" else f"{default:.0%} joint space, {1 - default:.0%} concepts"
    better = [w for w in words if w["rule"] != "base" and w["base_auc"] is not None]
    kept = [w for w in words if w["rule"] == "base" and w["base_auc"] is not None]
    lines = [f"- Whole captions and other queries: {share} (chosen on the validation files)"]
    if better:
        shown = ", ".join(f"{w['word']} {w['base_auc']:.2f} → {w['auc']:.2f}" for w in better)
        lines.append(f"- Words this model ranks better than its base (validation ROC-AUC): {shown}")
    if kept:
        lines.append(
            f"- Words where training did not help, scored exactly as by the base: {', '.join(w['word'] for w in kept)}"
        )
    new = [c["name"] for c in manifest.get("learned_concepts", []) if c.get("source") == "your captions"]
    if new:
        lines.append(f"- New learned concepts from your captions: {', '.join(new)}")
    for w in manifest.get("warnings", []):
        lines.append(f"- Warning: {w}")
    return "\n".join(lines)


def model_card(manifest: dict) -> str:
    t, v = manifest["training"], manifest["validation"]
    source = t.get("pairs") or ""
    if t.get("from_library"):
        source = (source + " + " if source else "") + "tags of the library's files"
    return f"""# {manifest["name"]} {manifest["version"]}

A joint audio-text head trained by `musictext train` on your own pairs. It projects the cached
audio features of **{manifest["base"]}** (musicnn tag probabilities, penultimate features and
measured descriptors) into the frozen all-MiniLM-L6-v2 text space of its base (the base's text
tower is used, not copied); search combines the dot product of a query's text vector with these
joint vectors with the base's concept scores, in the shares the validation files chose.

- Trained on: {source} ({t["n_pairs"]} pairs; {t["train_files"]} files for training, {t["val_files"]} held out)
- Loss: {t["loss"]}{f" (margin {t['margin']})" if t["loss"] == "triplet" else ""}, {t["epochs_run"]} epochs run,
  best epoch {t["best_epoch"]}{" (stopped early)" if t["stopped_early"] else ""}; seed {t["seed"]}, device {t["device"]}
- Head: zero-shot residual + linear{f" + MLP ({t['hidden']} hidden)" if t["hidden"] else ""} on standardised
  features; text adapter: {"yes" if t["text_adapter"] else "no"}
- Held-out text→audio, the base model as search scores it: {_fmt_metrics(v["zero_shot"])}
- Held-out text→audio, this model as search scores it: {_fmt_metrics(v["trained"])}
- Held-out text→audio, the head's joint space alone: {_fmt_metrics(v.get("head_only"))}
{_card_blend(manifest)}
- ONNX export checked against torch: max abs difference {manifest["head"]["onnx_max_abs_diff"]:.1e}

Use it with `musictext index --model {manifest["name"]} PATH` (re-projects stored features, no
decoding), then `musictext search --model {manifest["name"]} "..."`.

It knows only what its pairs taught it: a few hundred pairs from one source make a model for that
source. Audio and captions you have no right to share stay in this folder; the head's weights can
reveal something about them.
"""
