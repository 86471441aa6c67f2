"""The text side of a bundle: a lazily loaded text tower and a disk cache of phrase embeddings.

Concept phrases and tag prompts are the same for every query, so they are embedded once per
text model and kept in the data folder; a query then costs one small batch through the tower.
"""

from __future__ import annotations

import json
import os
from functools import cache

import numpy as np

from musictext.bundle import Bundle
from musictext.config import home

TAG_PROMPT = "{} music"


class TextSide:
    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self._encoder = None
        self._memo: dict[str, np.ndarray] = {}
        self._cache_file = None

    @property
    def encoder(self):
        if self._encoder is None:
            from musictext.text_model import TextEncoder

            text_bundle = self.bundle
            self._encoder = TextEncoder(text_bundle.file("text"), text_bundle.file("tokenizer"))
        return self._encoder

    def _cache_path(self):
        if self._cache_file is None:
            key = self.bundle.manifest["files"]["text"]["sha256"][:16]
            folder = home() / "cache"
            folder.mkdir(parents=True, exist_ok=True)
            self._cache_file = folder / f"text-{key}.npz"
            if self._cache_file.exists():
                try:
                    with np.load(self._cache_file, allow_pickle=False) as data:
                        texts = json.loads(str(data["texts"]))
                        self._memo.update(zip(texts, data["vecs"]))
                except (OSError, ValueError, KeyError):
                    pass
        return self._cache_file

    def encode(self, texts: list[str], persist: bool = False) -> np.ndarray:
        """Unit vectors for ``texts``; ``persist`` keeps them in the disk cache for next time."""
        path = self._cache_path()
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            vecs = self.encoder.encode(missing)
            self._memo.update(zip(missing, vecs))
            if persist:
                self._save(path)
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def _save(self, path) -> None:
        texts = list(self._memo)
        tmp = path.with_suffix(".tmp.npz")
        try:
            np.savez(tmp, texts=json.dumps(texts), vecs=np.stack([self._memo[t] for t in texts]))
            os.replace(tmp, path)
        except OSError:
            pass

    def tag_embeddings(self) -> np.ndarray:
        """[tags, d] embeddings of the bundle's tag names in the prompt template."""
        template = self.bundle.manifest.get("prompt_template", TAG_PROMPT)
        return self.encode(
            [template.format(t["name"].lower()) for t in self.bundle.manifest["tags"]], persist=True
        )


@cache
def text_side(bundle: Bundle) -> TextSide:
    return TextSide(bundle)


def joint_vectors(probs: np.ndarray, tag_vecs: np.ndarray) -> np.ndarray:
    """Training-free joint head (Choi et al.): a track sits where its probable tags' words sit.

    Each tag's text embedding is weighted by the squared tag probability, which sharpens the
    mix towards the tags the network is sure of.
    """
    w = np.clip(np.asarray(probs, np.float32), 0, 1) ** 2
    v = w @ tag_vecs
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-9)).astype(np.float32)
