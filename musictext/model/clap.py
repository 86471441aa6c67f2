"""Imported CLAP bundles at run time: 48 kHz audio in 10 s windows through audio.onnx (the
library pass that stores each track's joint vector is musictext.library.clap), the smoke test of
`models verify`, and the import service (the only part that needs torch, from the ``convert`` extra).

A CLAP bundle (manifest ``kind: "clap"``) names a ``base`` bundle: the base's audio tower still
measures every track (its tags, descriptors and learned concepts stay the concept columns), and
the CLAP towers give the joint space that search scores with ("joint" scoring). Only onnxruntime
and tokenizers run here.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from musictext.errors import DependencyError, ModelError, MusictextError
from musictext.model.bundle import Bundle

SAMPLE_RATE = 48000
WINDOW = 480000  # 10 s
SAMPLED_WINDOWS = 3  # 10 s windows per track in sampled mode (the default index covers about 24 s of musicnn windows)
BATCH = 4
ROBERTA_VOCAB = 50265


def is_clap(bundle: Bundle) -> bool:
    return bundle.manifest.get("kind") == "clap"


# Audio ------------------------------------------------------------------------------------------


def decode_48k(path: str | Path) -> np.ndarray:
    """The whole track as 48 kHz mono float32 (the decoders of musictext.audio.decode, soxr HQ)."""
    import soxr

    from musictext.audio.decode import _native_blocks

    parts, resampler, rate = [], None, None
    for sr, block in _native_blocks(Path(path), 30.0, {}):
        if resampler is None:
            rate = sr
            resampler = (
                None if sr == SAMPLE_RATE else soxr.ResampleStream(sr, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            )
        block = np.asarray(block, np.float32)
        parts.append(block if resampler is None else resampler.resample_chunk(block))
    if resampler is not None and rate is not None:
        parts.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _quantise(x: np.ndarray) -> np.ndarray:
    """LAION-CLAP's examples pass audio through int16 before embedding it; so do we."""
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16).astype(np.float32) / 32767.0


def windows(samples: np.ndarray, count: int | None, repeat: bool = True) -> np.ndarray:
    """[k, WINDOW] windows: ``count`` evenly spread (all non-overlapping ones when None); a track
    shorter than one window is repeated to fill it, then zero padded (LAION-CLAP's "repeatpad"), or
    only zero padded when ``repeat`` is false (AudioMuse-AI's ONNX contract)."""
    x = _quantise(np.asarray(samples, np.float32))
    if len(x) == 0:
        raise MusictextError("no audio decoded")
    if len(x) < WINDOW:
        reps = WINDOW // len(x)
        x = np.tile(x, reps) if reps > 1 and repeat else x
        return np.pad(x, (0, WINDOW - len(x)))[None]
    n_all = len(x) // WINDOW
    k = n_all if count is None else max(1, min(count, n_all))
    starts = np.linspace(0, len(x) - WINDOW, k).astype(np.int64) if k > 1 else [(len(x) - WINDOW) // 2]
    return np.stack([x[s : s + WINDOW] for s in starts])


class MelFrontEnd:
    """The log-mel input of an imported ONNX audio graph whose front end is outside it
    (``frontend.mel`` in the manifest): librosa's ``melspectrogram`` (hann window, centred with
    reflect padding, power 2, Slaney mel filters) then ``10 * log10(max(power, 1e-10))``, the
    recipe AudioMuse-AI documents for its CLAP ONNX files; ``layout`` says which way the
    [mels, frames] matrix goes into the graph."""

    def __init__(self, spec: dict):
        import librosa

        self.spec = spec
        self.n_fft, self.hop = int(spec["n_fft"]), int(spec["hop"])
        self.filters = librosa.filters.mel(
            sr=SAMPLE_RATE,
            n_fft=self.n_fft,
            n_mels=int(spec["n_mels"]),
            fmin=float(spec["fmin"]),
            fmax=float(spec["fmax"]),
        ).astype(np.float32)
        self.transpose = spec["layout"] == "time_mels"

    def __call__(self, window: np.ndarray) -> np.ndarray:
        """[n_mels, frames] (or [frames, n_mels]) log-mel of one window."""
        import librosa

        spec = librosa.stft(
            np.asarray(window, np.float32),
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.n_fft,
            window="hann",
            center=True,
            pad_mode="reflect",
        )
        power = self.filters @ (np.abs(spec) ** 2)
        db = 10.0 * np.log10(np.maximum(power, 1e-10))
        return (db.T if self.transpose else db).astype(np.float32)


class ClapTower:
    """audio.onnx of a CLAP bundle, loaded on first use: a waveform graph with its front end inside
    (`models import-clap`), or a log-mel graph with :class:`MelFrontEnd` before it (`models import-onnx`)."""

    def __init__(
        self, bundle: Bundle, providers: tuple[str, ...] = ("CPUExecutionProvider",), threads: int | None = None
    ):
        self.bundle, self.providers, self.threads = bundle, providers, threads
        self._session = None
        frontend = bundle.manifest.get("frontend", {})
        self.repeat = frontend.get("pad", "repeat") == "repeat"
        self.front = MelFrontEnd(frontend["mel"]) if frontend.get("mel") else None
        self._input, self._output, self._batch, self._fixed = "waveform", "embedding", BATCH, False

    @property
    def session(self):
        if self._session is None:
            from musictext.model.runtime import make_session

            path = self.bundle.file("audio")
            if self.bundle.has("audio_data"):
                self.bundle.file("audio_data")  # the external weights are checked like the graph
            session = make_session(path, self.providers, self.threads)
            want = list(self.bundle.manifest.get("inputs", {}).get("audio", ["waveform"]))
            names = [i.name for i in session.get_inputs()]
            if names != want:
                raise ModelError(f"CLAP audio graph takes {names}, not {want}", self.bundle.path)
            outputs = [o.name for o in session.get_outputs()]
            named = self.bundle.manifest.get("outputs", {}).get("audio", ["embedding"])[0]
            self._input, self._output = want[0], named if named in outputs else outputs[0]
            batch = session.get_inputs()[0].shape[0]
            self._fixed = isinstance(batch, int) and batch > 0  # a graph exported for a fixed batch size
            self._batch = batch if self._fixed else BATCH
            self._session = session
        return self._session

    def embed(self, wins: np.ndarray) -> np.ndarray:
        """[k, WINDOW] -> [k, joint] unit vectors."""
        session, out = self.session, []
        for i in range(0, len(wins), self._batch):
            chunk = wins[i : i + self._batch]
            x = chunk if self.front is None else np.stack([self.front(w) for w in chunk])[:, None]
            short = self._batch - len(x) if self._fixed else 0  # a fixed batch graph: pad, then trim
            if short:
                x = np.concatenate([x, np.zeros((short, *x.shape[1:]), x.dtype)])
            got = session.run([self._output], {self._input: np.ascontiguousarray(x, np.float32)})[0]
            out.append(np.asarray(got, np.float32).reshape(len(x), -1)[: len(chunk)])
        v = np.concatenate(out)
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)).astype(np.float32)

    def track_vector(self, samples: np.ndarray, count: int | None) -> np.ndarray:
        """One unit vector for a track: the mean of its windows' embeddings, renormalised."""
        if len(samples) == 0 or float(np.abs(samples).max()) < 1e-4:
            raise MusictextError("silent: nothing to analyse")
        v = self.embed(windows(samples, count, self.repeat)).mean(axis=0)
        return (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)


def window_count(budget: int | None) -> int | None:
    """10 s windows for an index budget (3 s musicnn windows, None for whole tracks)."""
    return None if budget is None else max(1, min(SAMPLED_WINDOWS, -(-budget * 3 // 10)))


def file_vector(bundle: Bundle, path: str, budget: int | None = 8) -> np.ndarray:
    """The joint vector of one file outside the library (``similar`` and playlist seeds)."""
    from musictext.model.runtime import choose_device, worker_count

    tower = ClapTower(bundle, choose_device("auto").providers, worker_count())
    try:
        return tower.track_vector(decode_48k(path), window_count(budget))
    except MusictextError as exc:
        raise MusictextError(exc.message, path) from None


# `models verify` ---------------------------------------------------------------------------------


def smoke(bundle: Bundle):
    """(what was checked, passed) for a CLAP bundle's graphs: a 10 s tone through audio.onnx, a
    phrase through text.onnx, the tokenizer's vocabulary size."""
    joint = int(bundle.manifest["dims"]["joint"])
    try:
        t = np.arange(WINDOW) / SAMPLE_RATE
        wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        tower = ClapTower(bundle)
        v = tower.embed(windows(wave, 1, tower.repeat))
        ok = v.shape == (1, joint) and abs(float(np.linalg.norm(v[0])) - 1) < 1e-3
        yield f"audio graph answers: 48 kHz 10 s window -> embedding {v.shape}", bool(ok)
    except MusictextError as exc:
        yield f"audio graph: {exc.message}", False
    try:
        size = check_tokenizer(bundle.file("tokenizer"))
        yield f"tokenizer has {size} tokens (RoBERTa's)", True
    except MusictextError as exc:
        yield f"tokenizer: {exc.message}", False
        return
    try:
        from musictext.model.textspace import TextSide

        vec = TextSide(bundle).encoder.encode(["a calm piano piece"])
        ok = vec.shape == (1, joint) and abs(float(np.linalg.norm(vec[0])) - 1) < 1e-3
        yield f"text graph answers: embedding {vec.shape}", bool(ok)
    except MusictextError as exc:
        yield f"text graph: {exc.message}", False


def check_tokenizer(path: Path) -> int:
    """The tokenizer's vocabulary size; refuses any but RoBERTa's 50265 (an offline hub tokenizer
    can silently be a 5-token stub)."""
    from tokenizers import Tokenizer

    try:
        size = Tokenizer.from_file(str(path)).get_vocab_size()
    except Exception as exc:  # tokenizers raises its own exception types
        raise ModelError(f"unreadable tokenizer ({str(exc).splitlines()[0][:120]})", path) from None
    if size != ROBERTA_VOCAB:
        raise ModelError(f"tokenizer has {size} tokens; RoBERTa's has {ROBERTA_VOCAB}", path)
    return size


def build_tokenizer(folder: Path, out: Path) -> dict:
    """tokenizer.json for RoBERTa's byte-level BPE from the user's vocab.json and merges.txt."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    from musictext.model.bundle import sha256_file

    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    for f in (vocab, merges):
        if not f.is_file():
            raise ModelError("the tokenizer folder needs vocab.json and merges.txt (RoBERTa's)", f)
    try:
        table = json.loads(vocab.read_text(encoding="utf-8"))
        bpe = BPE.from_file(str(vocab), str(merges))
    except Exception as exc:  # tokenizers raises its own exception types
        raise ModelError(f"unreadable tokenizer files ({str(exc).splitlines()[0][:120]})", folder) from None
    tok = Tokenizer(bpe)
    size = tok.get_vocab_size()
    if size != ROBERTA_VOCAB or not isinstance(table, dict) or len(table) != ROBERTA_VOCAB:
        raise ModelError(f"tokenizer has {size} tokens; RoBERTa's (roberta-base vocab.json) has {ROBERTA_VOCAB}", vocab)
    specials = {"<s>": 0, "<pad>": 1, "</s>": 2}
    if any(table.get(k) != v for k, v in specials.items()):
        raise ModelError("tokenizer's <s>, <pad>, </s> are not ids 0, 1, 2 as in RoBERTa's vocab.json", vocab)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
    )
    tok.save(str(out))
    return {"vocab.json": sha256_file(vocab), "merges.txt": sha256_file(merges)}


def manifest_head(name: str, version: str, base: Bundle, description: str, licence: str | None) -> dict:
    """The manifest fields every imported CLAP bundle starts with (import-clap and import-onnx)."""
    import time

    from musictext import __version__

    return {
        "name": name,
        "version": version,
        "kind": "clap",
        "base": base.model_id,  # concepts (tags, descriptors, learned) come from the base's audio tower
        "scoring": "joint",
        "pipeline_version": 1,
        "description": description,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "musictext_version": __version__,
        "licenses": {"clap": licence or "not stated by the user"}
        | {f"concepts ({k})": v for k, v in base.manifest.get("licenses", {}).items()},
    }


def finish_bundle(staged: Path, name: str, manifest: dict, card: str) -> Bundle:
    """Write the manifest and model card into the staged folder, then swap it in as bundle ``name``
    beside it (the staged folder is removed if anything fails)."""
    import shutil

    from musictext.atomic import swap_folder
    from musictext.model.bundle import MANIFEST

    try:
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (staged / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        staged.chmod(0o755)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    target = staged.parent / name
    swap_folder(staged, target)
    return Bundle(name, target, manifest)


# Import (torch) ----------------------------------------------------------------------------------

PORT = "musictext_clap_port"


def port(module: str = "convert"):
    """A module of the torch port: ``musictext/clapport`` in a wheel, ``models/clap`` in a checkout."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import torch  # noqa: F401
    except ImportError:
        raise DependencyError(
            'importing a CLAP checkpoint needs torch and onnx: pip install "musictext[convert]"'
        ) from None
    if PORT not in sys.modules:
        here = Path(__file__).resolve().parent.parent
        for folder in (here / "clapport", here.parent / "models" / "clap"):
            if (folder / "__init__.py").is_file():
                spec = importlib.util.spec_from_file_location(
                    PORT, folder / "__init__.py", submodule_search_locations=[str(folder)]
                )
                package = importlib.util.module_from_spec(spec)
                sys.modules[PORT] = package
                spec.loader.exec_module(package)
                break
        else:
            raise DependencyError("the CLAP converter (models/clap) is not installed with this musictext")
    return importlib.import_module(f"{PORT}.{module}")


def import_checkpoint(
    checkpoint: Path, tokenizer: Path, name: str | None, licence: str | None, sha256: str | None
) -> Bundle:
    return port("convert").import_clap(checkpoint, tokenizer, name=name, licence=licence, expected_sha256=sha256)
