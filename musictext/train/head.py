"""The trainable head, the optional text adapter, and the two losses (torch).

The head maps a track's cached audio features into the frozen text tower's 384-d space:

    zero_shot = normalize((clip(probs, 0, 1) ** 2) @ tag_text_embeddings)   # the training-free head
    z         = standardise([logit(probs), pooled, descriptors])           # stats of the training set
    joint     = normalize(gain * zero_shot + W z + MLP(z))

``W`` and the MLP's last layer start at zero and ``gain`` at one, so an untrained head *is* the
zero-shot one, and training only has to learn the correction.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-9
LOGIT_CLIP = 1e-4


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(EPS)


class JointHead(nn.Module):
    def __init__(
        self,
        tag_vecs: torch.Tensor,
        feature_mean: torch.Tensor,
        feature_std: torch.Tensor,
        hidden: int = 0,
        dropout: float = 0.2,
        undropped: int = 0,
    ):
        super().__init__()
        self.undropped = undropped  # last columns (the few measured descriptors) kept out of feature dropout
        self.n_tags, dim = tag_vecs.shape
        width = feature_mean.shape[0]
        self.register_buffer("tag_vecs", tag_vecs.float().clone())
        self.register_buffer("feature_mean", feature_mean.float().clone())
        self.register_buffer("feature_std", feature_std.float().clamp_min(1e-6).clone())
        self.gain = nn.Parameter(torch.ones(()))
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(width, dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.mlp = None
        if hidden:
            last = nn.Linear(hidden, dim)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), last)

    @staticmethod
    def raw_features(x: torch.Tensor, n_tags: int) -> torch.Tensor:
        """[logit(probs), pooled, descriptors] before standardisation."""
        p = x[:, :n_tags].clamp(LOGIT_CLIP, 1 - LOGIT_CLIP)
        return torch.cat([torch.log(p) - torch.log1p(-p), x[:, n_tags:]], dim=1)

    def zero_shot(self, x: torch.Tensor) -> torch.Tensor:
        p = x[:, : self.n_tags].clamp(0, 1)
        return _unit((p * p) @ self.tag_vecs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (self.raw_features(x, self.n_tags) - self.feature_mean) / self.feature_std
        if self.training and self.undropped:
            z = torch.cat([self.drop(z[:, : -self.undropped]), z[:, -self.undropped :]], dim=1)
        else:
            z = self.drop(z)
        delta = self.linear(z)
        if self.mlp is not None:
            delta = delta + self.mlp(z)
        return _unit(self.gain * self.zero_shot(x) + delta)


class TextAdapter(nn.Module):
    """A small residual map on the frozen text vectors: normalize(t + A t), A starting at zero."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return _unit(t + self.linear(t))


def _masked_logsumexp(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(x.masked_fill(~mask, -1e4), dim=1)


def infonce_loss(
    audio: torch.Tensor,
    text: torch.Tensor,
    positives: torch.Tensor,
    logit_scale: torch.Tensor,
    neg_text: torch.Tensor | None = None,
    neg_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric multimodal InfoNCE over all in-batch negatives, with a learnable temperature.

    ``positives[i, j]`` marks pairs that describe the same thing (same caption or same file), so a
    duplicate caption is not pushed away as a negative. ``neg_text [B, K, d]`` are each audio's own
    swapped-caption hard negatives (``neg_mask [B, K]`` marks the real ones), added to its denominator.
    """
    scale = logit_scale.exp().clamp(max=100.0)
    logits = scale * audio @ text.T
    a2t_all = logits
    if neg_text is not None and neg_text.shape[1]:
        extra = scale * torch.einsum("bd,bkd->bk", audio, neg_text)
        extra = extra.masked_fill(~neg_mask, -1e4)
        a2t_all = torch.cat([logits, extra], dim=1)
        pos_all = torch.cat([positives, torch.zeros_like(neg_mask)], dim=1)
    else:
        pos_all = positives
    a2t = torch.logsumexp(a2t_all, dim=1) - _masked_logsumexp(a2t_all, pos_all)
    t2a = torch.logsumexp(logits.T, dim=1) - _masked_logsumexp(logits.T, positives.T)
    return 0.5 * (a2t.mean() + t2a.mean())


def triplet_loss(
    audio: torch.Tensor,
    text: torch.Tensor,
    positives: torch.Tensor,
    margin: float,
    neg_text: torch.Tensor | None = None,
    neg_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """max(0, δ − f(a)·g(t⁺) + f(a)·g(t⁻)) with the hardest in-batch negative in both directions
    (VSE++), the swapped-caption negatives competing for the audio side's hardest."""
    sims = audio @ text.T
    pos = sims.diagonal()
    neg = sims.masked_fill(positives, -1e4)
    hardest_text = neg.max(dim=1).values
    if neg_text is not None and neg_text.shape[1]:
        swapped = torch.einsum("bd,bkd->bk", audio, neg_text).masked_fill(~neg_mask, -1e4)
        hardest_text = torch.maximum(hardest_text, swapped.max(dim=1).values)
    hardest_audio = neg.max(dim=0).values
    a2t = F.relu(margin - pos + hardest_text)
    t2a = F.relu(margin - pos + hardest_audio)
    return 0.5 * (a2t.mean() + t2a.mean())
