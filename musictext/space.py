"""A model's view of the library: the concept matrix and joint vectors of every indexed track.

Derived from the store and cached as .npy files beside the HNSW index, keyed by the store's
generation counter, so a cold search maps a few files instead of decoding thousands of blobs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from musictext.bundle import Bundle
from musictext.concepts import DESCRIPTOR_COLUMNS, Concept, build_concepts, concept_matrix, standardise
from musictext.probes import learned_concepts, probe_columns, probes_owner
from musictext.store import Store


@dataclass
class Space:
    model: str
    ids: np.ndarray  # [n] track ids
    raw: np.ndarray  # [n, columns] concept matrix (tag log-odds + descriptors)
    mu: np.ndarray
    sd: np.ndarray
    joint: np.ndarray  # [n, d] unit joint vectors

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def row_of(self) -> dict[int, int]:
        return {int(t): i for i, t in enumerate(self.ids)}

    def concept_scores(self, column_weights: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Σ weight·z over columns, z standardised over the whole library (not just the filtered rows)."""
        w = column_weights / self.sd
        raw = self.raw if rows is None else self.raw[rows]
        return raw @ w - float(self.mu @ w)

    def joint_scores(self, vec: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        joint = self.joint if rows is None else self.joint[rows]
        return joint @ vec.astype(np.float32)


def bundle_concepts(bundle: Bundle) -> list[Concept]:
    tags = bundle.manifest["tags"]
    learned = learned_concepts(bundle)
    pairs = tuple(zip(learned.names, learned.phrases)) if learned else ()
    return build_concepts([t["name"] for t in tags], [t["source"] for t in tags], pairs)


def describe_concepts(bundle: Bundle) -> list[dict]:
    """Every concept a query can name: name, phrasings, where its columns come from (the tagger
    networks, "descriptor", "learned") and, for a learned concept, its validation ROC-AUC."""
    tags = bundle.manifest["tags"]
    first_learned = len(tags) + len(DESCRIPTOR_COLUMNS)
    listed = probes_owner(bundle).manifest.get("learned_concepts") or []
    auc = {c["name"]: c.get("validation_auc") for c in listed}
    out = []
    for c in bundle_concepts(bundle):
        sources = []
        for col, _ in c.columns:
            src = tags[col]["source"] if col < len(tags) else "descriptor" if col < first_learned else "learned"
            if src not in sources:
                sources.append(src)
        entry = {"name": c.name, "sources": sources, "phrases": [p for p in c.phrases if p != c.name]}
        if "learned" in sources:
            entry["validation_auc"] = auc.get(c.name)
        out.append(entry)
    return out


def concepts_signature(bundle: Bundle) -> str:
    """What the concept matrix's columns depend on besides the store: the learned concepts file."""
    learned = learned_concepts(bundle)
    return learned.signature if learned else ""


def _cache_paths(index_dir: Path, model: str) -> dict[str, Path]:
    safe = model.replace("/", "_").replace("@", "_").replace("+", "_")
    return {k: index_dir / f"{safe}.{k}.npy" for k in ("ids", "raw", "joint")} | {
        "meta": index_dir / f"{safe}.space.json"
    }


def build_space(store: Store, bundle: Bundle, audio_model: str) -> Space:
    ids, probs, pooled, desc = store.features_matrix(audio_model)
    vec_ids, vecs = store.vectors(bundle.model_id)
    if len(ids) and len(vec_ids):
        keep = np.isin(ids, vec_ids)
        ids, probs, pooled = ids[keep], probs[keep], pooled[keep]
        desc = {k: v[keep] for k, v in desc.items()}
        order = np.searchsorted(vec_ids, ids)
        vecs = vecs[order]
    else:
        ids = np.zeros(0, np.int64)
    learned = learned_concepts(bundle)
    width = len(bundle.manifest["tags"]) + len(DESCRIPTOR_COLUMNS) + (len(learned) if learned else 0)
    if len(ids):
        raw = concept_matrix(probs, desc, probe_columns(learned, probs, pooled) if learned else None)
    else:
        raw = np.zeros((0, width), np.float32)
    mu, sd = standardise(raw)
    joint = vecs if len(ids) else np.zeros((0, int(bundle.manifest["dims"]["joint"])), np.float32)
    return Space(bundle.model_id, ids, raw, mu, sd, joint.astype(np.float32))


def load_space(store: Store, bundle: Bundle, audio_model: str, index_dir: Path) -> Space:
    """The cached space if it matches the store's generation, else rebuilt and cached."""
    paths = _cache_paths(index_dir, bundle.model_id)
    generation = store.generation(bundle.model_id)
    signature = concepts_signature(bundle)
    try:
        meta = json.loads(paths["meta"].read_text())
        if meta["generation"] == generation and meta.get("concepts", "") == signature:
            raw = np.load(paths["raw"], mmap_mode="r")
            return Space(
                bundle.model_id,
                np.load(paths["ids"]),
                raw,
                np.array(meta["mu"], np.float32),
                np.array(meta["sd"], np.float32),
                np.load(paths["joint"], mmap_mode="r"),
            )
    except (OSError, ValueError, KeyError):
        pass
    space = build_space(store, bundle, audio_model)
    save_space(space, index_dir, generation, signature)
    return space


def save_space(space: Space, index_dir: Path, generation: int, signature: str = "") -> None:
    paths = _cache_paths(index_dir, space.model)
    try:
        for key in ("ids", "raw", "joint"):
            tmp = paths[key].with_suffix(".tmp.npy")
            np.save(tmp, getattr(space, key))
            os.replace(tmp, paths[key])
        meta = {
            "generation": generation,
            "mu": space.mu.tolist(),
            "sd": space.sd.tolist(),
            "count": len(space),
            "concepts": signature,
        }
        paths["meta"].write_text(json.dumps(meta))
    except OSError:
        pass  # a read-only data folder still searches, just without the cache
