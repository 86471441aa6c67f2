"""Run-time text tower: an ONNX sentence encoder (all-MiniLM-L6-v2 by default) + its tokenizer.

No torch here. ``onnxruntime`` and ``tokenizers`` are imported on first use, so importing this
module is cheap and the CLI starts fast; the ONNX session is created on the first ``encode``.

The ONNX contract (see models/convert_minilm.py): inputs ``input_ids`` and ``attention_mask``
(int64 [batch, seq]; a ``token_type_ids`` input, if a model has one, is fed zeros), output
``embedding`` float32 [batch, dim], mean-pooled over the mask and L2-normalised in the graph.
Texts are tokenised with ``tokenizers.Tokenizer.from_file``, truncated to ``max_length``
(256, sentence-transformers' max_seq_length for this model) and padded per batch.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from musictext.model.runtime import worker_count

MAX_LENGTH = 256
DEFAULT_CACHE_SIZE = 2048


def default_threads() -> int:
    return worker_count()


class TextEncoder:
    """Encode texts into L2-normalised float32 vectors with an ONNX text tower.

    ``providers``: ONNX Runtime execution providers (default: CPU only).
    ``threads``: intra-op threads (default: ``min(2, os.cpu_count())``).
    Repeated strings are served from a small in-memory LRU cache.
    """

    def __init__(
        self,
        onnx_path: str | os.PathLike,
        tokenizer_path: str | os.PathLike,
        providers: Sequence | None = None,
        threads: int | None = None,
        max_length: int = MAX_LENGTH,
        cache_size: int = DEFAULT_CACHE_SIZE,
        sha256: str | None = None,
        pad_id: int = 0,
        pad_to: int | None = None,
    ):
        self.onnx_path = Path(onnx_path)
        # Padding: ``pad_id`` fills the ids past each text's end (masked out either way); ``pad_to``
        # pads every batch to that many tokens (a graph exported for a fixed width sets it too).
        self.pad_id, self.pad_to = int(pad_id), (int(pad_to) if pad_to else None)
        self.sha256 = sha256  # the graph's checksum, when known: it is then loaded from a fast copy
        self.tokenizer_path = Path(tokenizer_path)
        self.providers = list(providers) if providers else None
        self.threads = int(threads) if threads else default_threads()
        self.max_length = int(max_length)
        self.cache_size = int(cache_size)
        self._session = None
        self._tokenizer = None
        self._input_names: set[str] = set()
        self._output_name: str | None = None
        self._dim: int | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ lazy resources

    @property
    def session(self):
        """The ONNX Runtime session, created on first use."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._make_session()
        return self._session

    def _make_session(self):
        from musictext.model.runtime import fast_copy, make_session

        if not self.onnx_path.is_file():
            raise FileNotFoundError(f"text model not found: {self.onnx_path}")
        providers = tuple(self.providers or ["CPUExecutionProvider"])
        path = fast_copy(self.onnx_path, self.sha256) if self.sha256 else self.onnx_path
        sess = make_session(path, providers, self.threads)
        self._input_names = {i.name for i in sess.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._input_names
        if missing:
            raise ValueError(f"{self.onnx_path}: text model lacks inputs {sorted(missing)}")
        width = next(i.shape for i in sess.get_inputs() if i.name == "input_ids")
        if len(width) == 2 and isinstance(width[1], int) and width[1] > 0:
            self.pad_to = width[1]  # exported for a fixed number of tokens
        outputs = [o.name for o in sess.get_outputs()]
        self._output_name = "embedding" if "embedding" in outputs else outputs[0]
        shape = sess.get_outputs()[outputs.index(self._output_name)].shape
        if len(shape) == 2 and isinstance(shape[1], int):
            self._dim = shape[1]
        return sess

    @property
    def tokenizer(self):
        """The ``tokenizers.Tokenizer`` (truncation set, padding off: we pad per batch)."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    from tokenizers import Tokenizer

                    if not self.tokenizer_path.is_file():
                        raise FileNotFoundError(f"tokenizer not found: {self.tokenizer_path}")
                    tok = Tokenizer.from_file(str(self.tokenizer_path))
                    tok.enable_truncation(max_length=self.max_length)
                    tok.no_padding()
                    self._tokenizer = tok
        return self._tokenizer

    @property
    def providers_in_use(self) -> list[str]:
        return list(self.session.get_providers())

    @property
    def dim(self) -> int:
        """Embedding width (384 for MiniLM); runs one tiny encode if the graph doesn't say."""
        if self._dim is None:
            _ = self.session
            if self._dim is None:
                self._dim = int(self._run([[101, 102]]).shape[1])
        return self._dim

    # ------------------------------------------------------------------ encoding

    def tokenize(self, texts: Iterable[str]) -> list[list[int]]:
        """Token ids (with [CLS]/[SEP], truncated to ``max_length``) for each text."""
        return [e.ids for e in self.tokenizer.encode_batch([_clean(t) for t in texts])]

    def _run(self, ids_list: list[list[int]]) -> np.ndarray:
        sess = self.session
        width = max(max(len(x) for x in ids_list), self.pad_to or 0)
        ids = np.full((len(ids_list), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids_list), width), dtype=np.int64)
        for i, x in enumerate(ids_list):
            ids[i, : len(x)] = x
            mask[i, : len(x)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        out = sess.run([self._output_name], feed)[0]
        return np.asarray(out, dtype=np.float32)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """float32 [len(texts), dim] unit vectors; a bare string counts as a one-item list."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One encode at a time: the cache stays consistent and two cores are busy anyway.
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
            fresh: dict[str, np.ndarray] = {}
            if todo:
                ids_list = self.tokenize(todo)
                # Length-sorted batches keep padding (and so wasted compute) small.
                order = sorted(range(len(todo)), key=lambda i: len(ids_list[i]))
                for start in range(0, len(order), batch_size):
                    chunk = order[start : start + batch_size]
                    vecs = self._run([ids_list[i] for i in chunk])
                    for i, v in zip(chunk, vecs, strict=True):
                        fresh[todo[i]] = v.copy()
            rows = []
            for t in texts:
                v = fresh.get(t)
                if v is None:
                    v = self._cache[t]
                    self._cache.move_to_end(t)
                rows.append(v)
            if self.cache_size > 0:
                for t, v in fresh.items():
                    self._cache[t] = v
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        out = np.stack(rows).astype(np.float32, copy=True)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.maximum(norms, 1e-12)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """float32 [dim] unit vector for one text."""
        return self.encode([text])[0]

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


def _clean(text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    return text
