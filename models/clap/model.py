"""The two CLAP towers as exported: audio (front end + HTSAT + projection) and text (RoBERTa +
projection), each ending in an L2-normalised joint vector, and their configuration read from the
shapes of a LAION-CLAP state dict (so a reduced test checkpoint loads through the same code)."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, replace

import torch
import torch.nn.functional as F
from torch import nn

from .htsat import HTSAT, HTSAT_BASE, AudioConfig
from .roberta import ROBERTA_BASE, Roberta, TextConfig

ROBERTA_VOCAB = 50265
HEAD_WIDTH = 64  # roberta-base: 768 hidden / 12 heads; heads are not visible in a state dict's shapes


def _projection(d_in: int, joint: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, joint), nn.ReLU(), nn.Linear(joint, joint))


class ClapAudio(nn.Module):
    """waveform [B, 480000] (10 s at 48 kHz, float in [-1, 1]) -> unit joint vector [B, joint]."""

    def __init__(self, cfg: AudioConfig, joint: int):
        super().__init__()
        self.audio_branch = HTSAT(cfg)
        self.audio_projection = _projection(cfg.num_features, joint)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.audio_projection(self.audio_branch(waveform)), dim=-1)


class ClapText(nn.Module):
    """(input_ids, attention_mask) int64 [B, L] -> unit joint vector [B, joint]."""

    def __init__(self, cfg: TextConfig, joint: int):
        super().__init__()
        self.text_branch = Roberta(cfg)
        self.text_projection = _projection(cfg.hidden, joint)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_projection(self.text_branch(input_ids, attention_mask)), dim=-1)


class LayoutError(ValueError):
    """The state dict is not in LAION-CLAP's HTSAT + RoBERTa layout (one line, for the user)."""


def clean_state(obj) -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint: its ``state_dict`` (if wrapped), without ``module.``."""
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise LayoutError("the checkpoint holds no state dict")
    out = {}
    for key, value in state.items():
        if isinstance(key, str) and isinstance(value, torch.Tensor):
            out[key.removeprefix("module.")] = value
    return out


def _need(state: dict, key: str) -> torch.Tensor:
    if key not in state:
        raise LayoutError(f"the checkpoint has no {key} (not a LAION-CLAP HTSAT + RoBERTa checkpoint)")
    return state[key]


def _count(state: dict, pattern: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def infer_configs(state: dict) -> tuple[AudioConfig, TextConfig, int]:
    """(audio config, text config, joint width) from the tensors' shapes."""
    a = "audio_branch."
    proj = _need(state, a + "patch_embed.proj.weight")
    n_layers = _count(state, r"audio_branch\.layers\.(\d+)\.")
    if n_layers == 0:
        raise LayoutError("the checkpoint has no audio_branch.layers (not an HTSAT audio branch)")
    depths = tuple(_count(state, rf"audio_branch\.layers\.{i}\.blocks\.(\d+)\.") for i in range(n_layers))
    heads = tuple(
        int(_need(state, f"{a}layers.{i}.blocks.0.attn.relative_position_bias_table").shape[1]) for i in range(n_layers)
    )
    table = int(_need(state, f"{a}layers.0.blocks.0.attn.relative_position_bias_table").shape[0])
    window = (math.isqrt(table) + 1) // 2
    embed = int(proj.shape[0])
    fc1 = int(_need(state, f"{a}layers.0.blocks.0.mlp.fc1.weight").shape[0])
    audio = replace(
        HTSAT_BASE,
        embed_dim=embed,
        patch_size=int(proj.shape[-1]),
        n_mels=int(_need(state, a + "bn0.weight").shape[0]),
        depths=depths,
        num_heads=heads,
        window_size=window,
        mlp_ratio=fc1 / embed,
    )
    t = "text_branch."
    words = _need(state, t + "embeddings.word_embeddings.weight")
    hidden = int(words.shape[1])
    text = replace(
        ROBERTA_BASE,
        vocab_size=int(words.shape[0]),
        hidden=hidden,
        layers=_count(state, r"text_branch\.encoder\.layer\.(\d+)\."),
        heads=max(1, hidden // HEAD_WIDTH),
        intermediate=int(_need(state, t + "encoder.layer.0.intermediate.dense.weight").shape[0]),
        max_positions=int(_need(state, t + "embeddings.position_embeddings.weight").shape[0]),
        type_vocab=int(_need(state, t + "embeddings.token_type_embeddings.weight").shape[0]),
    )
    joint = int(_need(state, "text_projection.2.weight").shape[0])
    if text.vocab_size != ROBERTA_VOCAB:
        raise LayoutError(
            f"the checkpoint's text vocabulary has {text.vocab_size} tokens; RoBERTa's has {ROBERTA_VOCAB}"
        )
    return audio, text, joint


def architecture_name(audio: AudioConfig, text: TextConfig) -> str:
    a = "HTSAT-base" if audio == HTSAT_BASE else f"HTSAT (reduced: {asdict(audio)})"
    t = "roberta-base" if text == ROBERTA_BASE else f"RoBERTa (reduced: {asdict(text)})"
    return f"{a} + {t}"


def _load(module: nn.Module, state: dict) -> None:
    """Every tensor our module needs, by name and shape; extra checkpoint tensors are left over."""
    ours = module.state_dict()
    for key, want in ours.items():
        if key.endswith("num_batches_tracked"):
            continue
        got = state.get(key)
        if got is None:
            raise LayoutError(f"the checkpoint has no {key} (not a LAION-CLAP HTSAT + RoBERTa checkpoint)")
        if tuple(got.shape) != tuple(want.shape):
            raise LayoutError(
                f"checkpoint tensor {key} has shape {tuple(got.shape)}, the layout needs {tuple(want.shape)}"
            )
        if not torch.isfinite(got.float()).all():
            raise LayoutError(f"checkpoint tensor {key} holds NaN or infinite values")
    module.load_state_dict({k: state[k] for k in ours if k in state}, strict=False)


def build_towers(state: dict) -> tuple[ClapAudio, ClapText, dict]:
    """Both towers with the checkpoint's weights, in eval mode, and what was learned about it."""
    audio_cfg, text_cfg, joint = infer_configs(state)
    audio = ClapAudio(audio_cfg, joint)
    text = ClapText(text_cfg, joint)
    _load(audio, state)
    _load(text, state)
    front_diff = audio.audio_branch.front.check_against(state, "audio_branch.")
    if front_diff > 1e-4:
        raise LayoutError(
            f"the checkpoint's front end (STFT/mel kernels) differs from HTSAT's 48 kHz front end by {front_diff:.2g}"
        )
    used = set(audio.state_dict()) | set(text.state_dict())
    info = {
        "architecture": architecture_name(audio_cfg, text_cfg),
        "audio_config": asdict(audio_cfg),
        "text_config": asdict(text_cfg),
        "joint": joint,
        "tensors_used": len(used),
        "tensors_unused": len([k for k in state if k not in used]),
    }
    return audio.eval(), text.eval(), info
