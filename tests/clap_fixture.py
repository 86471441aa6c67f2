"""A small random-weights LAION-CLAP checkpoint in the published key layout (reduced HTSAT and
RoBERTa sizes), and a synthetic RoBERTa-sized tokenizer (50265 entries), made on the spot."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

SMALL_AUDIO = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4))
SMALL_TEXT = dict(hidden=64, layers=2, heads=1, intermediate=128)
JOINT = 32


def checkpoint_state(seed: int = 0, audio: dict | None = None, text: dict | None = None, joint: int = JOINT) -> dict:
    """state dict as LAION-CLAP saves it: ``module.`` prefixes, the front-end kernels, the heads and
    buffers musictext does not use."""
    import numpy as np
    import torch

    from musictext.model.clap import port

    HTSAT_BASE = port("htsat").HTSAT_BASE
    ROBERTA_BASE = port("roberta").ROBERTA_BASE
    ClapAudio, ClapText = port("model").ClapAudio, port("model").ClapText

    torch.manual_seed(seed)
    a = ClapAudio(replace(HTSAT_BASE, **(SMALL_AUDIO if audio is None else audio)), joint)
    t = ClapText(replace(ROBERTA_BASE, **(SMALL_TEXT if text is None else text)), joint)
    state = {}
    for module in (a, t):
        for k, v in module.state_dict().items():
            v = v.clone()
            if k.endswith("running_var"):
                v = torch.rand_like(v) + 0.5
            elif k.endswith("running_mean"):
                v = torch.randn_like(v) * 3 - 20
            elif v.is_floating_point() and "LayerNorm" not in k and "norm" not in k:
                v = torch.randn_like(v) * 0.05
            state[k] = v
    front = a.audio_branch.front
    state["audio_branch.spectrogram_extractor.stft.conv_real.weight"] = front.conv_real.clone()
    state["audio_branch.spectrogram_extractor.stft.conv_imag.weight"] = -front.conv_imag.clone()
    state["audio_branch.logmel_extractor.melW"] = front.melW.clone()
    n_classes = 527
    feats = a.audio_branch.cfg.num_features
    state["audio_branch.tscam_conv.weight"] = torch.randn(n_classes, feats, 2, 3) * 0.01
    state["audio_branch.head.weight"] = torch.randn(n_classes, n_classes) * 0.01
    state["audio_branch.layers.0.blocks.1.attn_mask"] = torch.zeros(64, 64, 64)
    state["audio_branch.layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(64, 64, dtype=torch.long)
    state["text_branch.embeddings.position_ids"] = torch.arange(514)[None]
    for side in ("audio", "text"):
        state[f"{side}_transform.sequential.0.weight"] = torch.randn(joint, joint)
    state["logit_scale_a"] = torch.tensor(float(np.log(1 / 0.07)))
    state["logit_scale_t"] = torch.tensor(float(np.log(1 / 0.07)))
    return {f"module.{k}": v for k, v in state.items()}


def save_checkpoint(path: Path, **kwargs) -> Path:
    import torch

    torch.save({"epoch": 15, "name": "test", "state_dict": checkpoint_state(**kwargs)}, str(path))
    return path


def write_tokenizer(folder: Path, size: int = 50265) -> Path:
    """vocab.json with RoBERTa's special ids and the 256 byte-level symbols, filled to ``size``
    entries, and a few merges (so real words become a handful of tokens)."""
    from tokenizers import pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for ch in sorted(alphabet):
        vocab.setdefault(ch, len(vocab))
    merges = []
    pairs = [("Ġ", "a"), ("Ġ", "c"), ("Ġ", "p"), ("a", "n"), ("i", "n"), ("e", "r"), ("Ġc", "a"), ("Ġp", "i")]
    for left, right in pairs:
        merges.append(f"{left} {right}")
        vocab.setdefault(left + right, len(vocab))
    i = 0
    while len(vocab) < size - 1:
        vocab[f"filler{i}"] = len(vocab)
        i += 1
    if len(vocab) < size:
        vocab["<mask>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return folder
