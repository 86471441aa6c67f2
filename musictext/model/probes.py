"""Learned concepts: linear probes on the audio tower's features for words no tagger knows.

The two musicnn taggers know 100 tags. A word such as "organ", "trumpet" or "accordion" names none
of them, and the training-free joint space can only express it as a mix of those 100 tags. A
learned concept is a logistic-regression probe on a track's stored features (the tag log-odds and
the pooled penultimate features of both nets). ``models/train_probes.py`` trains the probes on
music rendered by our own numpy synthesiser (no samples, no soundfont), and keeps a probe only when
it ranks renders from a different synthesiser (soundfonts, other compositions) well.

A probe's log-odds is one more column of the concept matrix. The query planner, ``--explain`` and
``tag`` then treat it like a tag. Probes are trained only for words that name no tagger or
descriptor concept, so a word the taggers know keeps its old meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from musictext.errors import ModelError
from musictext.model.bundle import Bundle

ROLE = "probes"
LOGIT_CLIP = 1e-6  # the same clip as the concept matrix's tag columns


@dataclass(frozen=True)
class LearnedConcepts:
    names: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]
    weight: np.ndarray  # [k, tags + pooled features]
    bias: np.ndarray  # [k]
    signature: str  # sha256 of the probes file: the space cache is rebuilt when it changes

    def __len__(self) -> int:
        return len(self.names)


CHUNK = 65536  # tracks per step: a million-track library never holds a second copy of its features


def probe_inputs(probs: np.ndarray, pooled: np.ndarray, dtype=np.float64) -> np.ndarray:
    """[n, tags + d] probe inputs: tag log-odds, then pooled features."""
    p = np.clip(np.asarray(probs, dtype), LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.concatenate([np.log(p / (1 - p)), np.asarray(pooled, dtype)], axis=1)


def probe_columns(learned: LearnedConcepts, probs: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """[n, k] log-odds of every learned concept for every track."""
    width = np.shape(probs)[1] + np.shape(pooled)[1] if len(probs) else learned.weight.shape[1]
    if width != learned.weight.shape[1]:
        raise ModelError(f"learned concepts expect {learned.weight.shape[1]} features per track, the store has {width}")
    out = np.empty((len(probs), len(learned)), np.float32)
    for i in range(0, len(probs), CHUNK):
        x = probe_inputs(probs[i : i + CHUNK], pooled[i : i + CHUNK], np.float32)
        out[i : i + CHUNK] = x @ learned.weight.T + learned.bias
    return out


def probes_owner(bundle: Bundle) -> Bundle:
    """The bundle whose probes apply: its own, or (for a trained head) its base's."""
    if ROLE in bundle.manifest.get("files", {}) or not bundle.base:
        return bundle
    return bundle.base_bundle()


def learned_concepts(bundle: Bundle) -> LearnedConcepts | None:
    owner = probes_owner(bundle)
    entry = owner.manifest.get("files", {}).get(ROLE)
    listed = owner.manifest.get("learned_concepts") or []
    if entry is None or not listed:
        return None
    return _load(owner.file(ROLE), entry["sha256"], tuple((c["name"], tuple(c["phrases"])) for c in listed))


@cache
def _load(path: Path, sha: str, listed: tuple[tuple[str, tuple[str, ...]], ...]) -> LearnedConcepts:
    try:
        with np.load(path) as z:
            weight, bias = z["weight"].astype(np.float32), z["bias"].astype(np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"unreadable learned concepts ({exc})", path) from exc
    if weight.ndim != 2 or weight.shape[0] != len(listed) or bias.shape != (len(listed),):
        raise ModelError(f"learned concepts: {weight.shape} weights for {len(listed)} names", path)
    return LearnedConcepts(tuple(n for n, _ in listed), tuple(p for _, p in listed), weight, bias, sha)
