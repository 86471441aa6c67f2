"""The text side of a bundle: a lazily loaded text tower and a disk cache of phrase embeddings.

Concept phrases and tag prompts are the same for every query, so they are embedded once per
text model and kept in the data folder; a query then costs one small batch through the tower.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from musictext.config import cache_dir
from musictext.model.bundle import Bundle

TAG_PROMPT = "{} music"


class TextSide:
    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self._encoder = None
        self._memo: dict[str, np.ndarray] = {}
        self._db = None

    @property
    def encoder(self):
        if self._encoder is None:
            from musictext.model.text import MAX_LENGTH, TextEncoder

            text = self.bundle.manifest.get("text", {})
            if self.bundle.has("text_data"):
                self.bundle.file("text_data")  # external weights of an imported graph, checked like it
            self._encoder = TextEncoder(
                self.bundle.file("text"),
                self.bundle.file("tokenizer"),
                max_length=int(text.get("max_length", MAX_LENGTH)),  # CLAP: 77
                sha256=self.bundle.sha256("text"),
                # An imported ONNX pair pads as its tool does (RoBERTa's <pad>, to 77 tokens).
                pad_id=int(text.get("pad_id", 0)) if text.get("pad_to") else 0,
                pad_to=text.get("pad_to"),
            )
        return self._encoder

    def _cache(self):
        """A small SQLite table text -> vector per text model: every text is embedded once, ever."""
        if self._db is None:
            import sqlite3

            key = self.bundle.sha256("text")[:16]
            try:
                folder = cache_dir()
                if folder is None:
                    raise OSError("no writable data folder")
                self._db = sqlite3.connect(folder / f"text-{key}.sqlite3", timeout=5)
                # WAL with NORMAL sync: a new phrase's commit does not wait for an fsync (~25 ms), and
                # a crash can lose only the newest vectors, never damage the cache.
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("CREATE TABLE IF NOT EXISTS vec (text TEXT PRIMARY KEY, v BLOB NOT NULL)")
            except (OSError, sqlite3.Error):
                self._db = False  # read-only or broken data folder: work without the cache
        return self._db

    def _lookup(self, texts: list[str]) -> None:
        db = self._cache()
        if not db:
            return
        import sqlite3

        try:
            for i in range(0, len(texts), 500):
                chunk = texts[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for text, blob in db.execute(f"SELECT text, v FROM vec WHERE text IN ({marks})", chunk):
                    self._memo[text] = np.frombuffer(blob, dtype=np.float32)
        except sqlite3.Error:
            pass

    def _store(self, items: dict[str, np.ndarray]) -> None:
        db = self._cache()
        if not db:
            return
        import sqlite3

        try:
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO vec VALUES (?, ?)",
                    [(t, np.asarray(v, np.float32).tobytes()) for t, v in items.items()],
                )
        except sqlite3.Error:
            pass

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for ``texts``; the text tower is loaded only for texts never seen before."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._lookup(missing)
            missing = [t for t in missing if t not in self._memo]
        if missing:
            fresh = dict(zip(missing, self.encoder.encode(missing)))
            self._memo.update(fresh)
            self._store(fresh)
        out = (
            np.stack([self._memo[t] for t in texts])
            if texts
            else np.zeros((0, int(self.bundle.manifest["dims"]["text"])), np.float32)
        )
        if self.bundle.has("text_adapter"):  # a trained bundle's adapter, after the shared cache
            from musictext.model.heads import apply_text_adapter

            out = apply_text_adapter(self.bundle, out)
        return out

    def tag_embeddings(self) -> np.ndarray:
        """[tags, d] embeddings of the bundle's tag names in the prompt template."""
        template = self.bundle.manifest.get("prompt_template", TAG_PROMPT)
        return self.encode([template.format(t["name"].lower()) for t in self.bundle.manifest["tags"]])


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
