"""LAION-CLAP checkpoint (HTSAT + RoBERTa) + the user's vocab.json/merges.txt -> a musictext bundle.

Nothing is fetched and no code is unpickled: the checkpoint is read with
``torch.load(weights_only=True)``, the towers are this folder's own torch modules, both are exported
to ONNX and each export is checked against torch (≤ 1e-4) before the bundle is written.
"""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np

from musictext.errors import ModelError, MusictextError
from musictext.model.bundle import Bundle, sha256_file
from musictext.model.clap import build_tokenizer, finish_bundle, manifest_head

ONNX_TOLERANCE = 1e-4
MAX_TEXT_TOKENS = 77  # LAION-CLAP's tokenizer: truncation and padding to 77
CLIP_SECONDS = 10


def load_state(path: Path) -> dict:
    """The checkpoint's tensors; a checkpoint that needs more than tensors to unpickle is refused."""
    import torch

    from .model import LayoutError, clean_state

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            "refused: the checkpoint needs code unpickled to load (only plain tensor checkpoints, readable"
            f" with torch.load(weights_only=True), are imported; {first[:120]})",
            path,
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise ModelError(
            f"cannot read the checkpoint ({str(exc).splitlines()[0][:160] if str(exc) else exc})", path
        ) from None
    try:
        return clean_state(obj)
    except LayoutError as exc:
        raise ModelError(str(exc), path) from None


def _export(torch, module, inputs: tuple, names: list[str], path: Path) -> None:
    axes = {n: {0: "batch"} for n in names} | {"embedding": {0: "batch"}}
    if "input_ids" in names:
        axes["input_ids"] = axes["attention_mask"] = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            inputs,
            str(path),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _check(torch, module, inputs: tuple, names: list[str], path: Path) -> float:
    from musictext.model.runtime import make_session

    session = make_session(path, threads=2)
    got = session.run(["embedding"], {n: x.numpy() for n, x in zip(names, inputs)})[0]
    with torch.no_grad():
        want = module(*inputs).numpy()
    diff = float(np.abs(got - want).max())
    if not np.isfinite(got).all() or diff > ONNX_TOLERANCE:
        raise ModelError(f"exported ONNX differs from torch by {diff:.2e} (> {ONNX_TOLERANCE:g})", path)
    return diff


def export_towers(torch, audio, text, folder: Path, tokenizer: Path | None = None) -> dict:
    """Write audio.onnx and text.onnx into ``folder``; returns the largest |ONNX − torch| of each."""
    from .htsat import AudioConfig

    cfg: AudioConfig = audio.audio_branch.cfg
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(cfg.clip_samples, dtype=torch.float32) / cfg.sample_rate
    wave = torch.stack([0.3 * torch.sin(2 * np.pi * 440 * t), 0.1 * torch.randn(cfg.clip_samples, generator=gen)])
    _export(torch, audio, (wave,), ["waveform"], folder / "audio.onnx")
    if tokenizer is not None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer))
        rows = [e.ids for e in tok.encode_batch(["a calm piano piece", "fast drums and distorted electric guitar"])]
    else:
        rows = [[0, 100, 200, 2], [0, 300, 2]]
    width = max(map(len, rows))
    ids = torch.ones((len(rows), width), dtype=torch.int64)  # pad id 1
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    _export(torch, text, (ids, mask), ["input_ids", "attention_mask"], folder / "text.onnx")
    with torch.no_grad():
        return {
            "audio": _check(torch, audio, (wave,), ["waveform"], folder / "audio.onnx"),
            "text": _check(torch, text, (ids, mask), ["input_ids", "attention_mask"], folder / "text.onnx"),
        }


def _entry(folder: Path, name: str) -> dict:
    path = folder / name
    return {"path": name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def import_clap(
    checkpoint: Path,
    tokenizer_dir: Path,
    name: str | None = None,
    licence: str | None = None,
    expected_sha256: str | None = None,
    base: Bundle | None = None,
) -> Bundle:
    """Convert, check and write the bundle; returns it. Every refusal is a one-line ModelError."""
    import torch

    from musictext.config import user_models_dir
    from musictext.model.bundle import get_bundle

    from .model import LayoutError, build_towers

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ModelError("no such checkpoint file", checkpoint)
    name = name or "clap-" + checkpoint.stem.lower().replace("_", "-").replace(".", "-")[:40]
    if not name.replace("-", "").replace("_", "").isalnum():
        raise MusictextError(f"model name {name!r}: use letters, digits, - and _")
    digest = sha256_file(checkpoint)
    if expected_sha256 and digest != expected_sha256.lower():
        raise ModelError(
            f"checkpoint sha256 is {digest[:12]}…, not the expected {expected_sha256[:12]}…: altered or another file",
            checkpoint,
        )
    base = base or get_bundle(None)
    if not base.builtin:
        base = get_bundle(base.base_name)
    root = user_models_dir()
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        tok_sums = build_tokenizer(Path(tokenizer_dir), tmp / "tokenizer.json")  # the cheap refusals first
        state = load_state(checkpoint)
        try:
            audio, text, info = build_towers(state)
        except LayoutError as exc:
            raise ModelError(str(exc), checkpoint) from None
        del state
        torch.set_num_threads(min(2, os.cpu_count() or 1))
        diffs = export_towers(torch, audio, text, tmp, tmp / "tokenizer.json")
        files = {
            role: _entry(tmp, f)
            for role, f in (("audio", "audio.onnx"), ("text", "text.onnx"), ("tokenizer", "tokenizer.json"))
        }
        manifest = _manifest(name, checkpoint, digest, tok_sums, licence, base, info, diffs, files)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return finish_bundle(tmp, name, manifest, model_card(manifest))


def _manifest(name, checkpoint, digest, tok_sums, licence, base, info, diffs, files) -> dict:
    audio_cfg = info["audio_config"]
    return manifest_head(
        name,
        files["audio"]["sha256"][:8],
        base,
        f"LAION-CLAP joint embedding from {checkpoint.name} ({info['architecture'][:60]})",
        licence,
    ) | {
        "sources": {
            "checkpoint": checkpoint.name,
            "checkpoint_sha256": digest,
            "tokenizer": tok_sums,
        },
        "files": files,
        "frontend": {
            "sample_rate": audio_cfg["sample_rate"],
            "mono": "mean of channels",
            "resampler": "soxr HQ",
            "window_seconds": CLIP_SECONDS,
            "window_samples": audio_cfg["clip_samples"],
            "quantise": "int16 round trip, as LAION-CLAP's examples do",
            "short_audio": "repeated to fill the window, then zero padded (LAION-CLAP's repeatpad)",
            "in_graph": "STFT n_fft 1024 hop 480 hann (reflect pad), slaney mel 64 bins 50-14000 Hz, 10*log10(power),"
            " BatchNorm over mel bins, 1001 frames stretched to 1024 (bicubic)",
            "track": "mean of window embeddings, renormalised",
        },
        "text": {"max_length": MAX_TEXT_TOKENS, "tokenizer": "byte-level BPE (vocab.json + merges.txt)", "pad_id": 1},
        "outputs": {"audio": ["embedding"], "text": ["embedding"]},
        "inputs": {"audio": ["waveform"], "text": ["input_ids", "attention_mask"]},
        "dims": {"text": info["joint"], "joint": info["joint"], "audio_features": audio_cfg["embed_dim"] * 8},
        "tags": base.manifest["tags"],
        "prompt_template": base.manifest.get("prompt_template", "{} music"),
        "clap": info | {"onnx_max_abs_diff": diffs, "onnx_tolerance": ONNX_TOLERANCE},
    }


def model_card(m: dict) -> str:
    c = m["clap"]
    return f"""# {m["name"]}

A LAION-CLAP joint audio-text embedding imported with `musictext models import-clap`.

- Architecture: {c["architecture"]}; joint space {c["joint"]} dimensions.
- Source checkpoint: `{m["sources"]["checkpoint"]}`, sha256 `{m["sources"]["checkpoint_sha256"]}`.
- Tokenizer: RoBERTa byte-level BPE from the user's vocab.json
  (sha256 `{m["sources"]["tokenizer"]["vocab.json"]}`) and merges.txt
  (sha256 `{m["sources"]["tokenizer"]["merges.txt"]}`); texts truncated to {m["text"]["max_length"]} tokens.
- Licence (as stated by the user): {m["licenses"]["clap"]}.
- Audio: 48 kHz mono, 10 s windows; the front end is inside audio.onnx (see manifest `frontend`).
- ONNX checked against torch before writing: max |difference| audio {c["onnx_max_abs_diff"]["audio"]:.1e},
  text {c["onnx_max_abs_diff"]["text"]:.1e} (tolerance {c["onnx_tolerance"]:g}).
- Concepts (tags, tempo, key, loudness, learned concepts) come from the base bundle `{m["base"]}`, whose
  features are stored as for the default model; search scores mix them with this joint space ("joint" scoring).

Quality: musictext cannot measure this model's quality without its real weights and a labelled
corpus; run `musictext eval` on your own labelled files to see how it ranks them.
"""
