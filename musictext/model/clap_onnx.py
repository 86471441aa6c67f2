"""`musictext models import-onnx`: a CLAP audio/text ONNX pair as a public tool distributes it,
accepted under the input/output contract that tool's repository documents, checked on load.

The contract here is AudioMuse-AI's (its ``config.py`` and README, "CLAP ... Environment Variable
Configuration"; read from its public code, implemented here on our own):

- audio graph: one input ``mel_spectrogram``, float32, ``[batch, 1, frames, 64]`` for the LAION-CLAP
  HTSAT teacher (``clap_audio_model.onnx``: n_fft 1024, hop 480, 50-14000 Hz) or
  ``[batch, 1, 128, frames]`` for the distilled EfficientAT student (``model_epoch_36.onnx`` with
  its ``.onnx.data``: n_fft 2048, hop 480, 0-14000 Hz); the log-mel is librosa's (hann, centred,
  reflect padding, power 2, Slaney filters) in dB (``10 log10(max(power, 1e-10))``) of 10 s of
  48 kHz mono audio passed through int16, short audio zero padded; the first output is the
  ``[batch, D]`` embedding;
- text graph: inputs ``input_ids`` and ``attention_mask`` (int64 ``[batch, tokens]``), RoBERTa's
  tokens padded with ``<pad>`` (id 1) to 77; the first output is the ``[batch, D]`` embedding;
- a track is the mean of its windows' embeddings, renormalised.

Both graphs are loaded with onnxruntime (nothing here needs torch or onnx), their inputs and
outputs are checked against the contract, both answer a probe whose output must be finite and of
the same width, and then they are re-serialised by onnxruntime, unoptimised, into the bundle with
their weights in ``*.onnx.data`` beside them (so a graph's own external-data file name does not
matter) and checked to give the same embeddings as the originals.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musictext.errors import ModelError, MusictextError
from musictext.model.bundle import Bundle, sha256_file
from musictext.model.clap import (
    SAMPLE_RATE,
    WINDOW,
    MelFrontEnd,
    build_tokenizer,
    finish_bundle,
    manifest_head,
    windows,
)

TEXT_TOKENS = 77  # AudioMuse-AI's tokenizer call: max_length 77, padding "max_length"
PAD_ID = 1  # RoBERTa's <pad>
RESERIALISE_TOLERANCE = 1e-5
SOURCE = "AudioMuse-AI (config.py CLAP_AUDIO_* settings; README, CLAP environment variables)"


@dataclass(frozen=True)
class Contract:
    title: str
    n_mels: int
    n_fft: int
    hop: int
    fmin: int
    fmax: int
    layout: str  # "time_mels": [frames, n_mels]; "mels_time": [n_mels, frames]

    @property
    def mel(self) -> dict:
        return {
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop": self.hop,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "layout": self.layout,
            "power": 2.0,
            "db": "10*log10(max(power, 1e-10))",
            "stft": "hann window of n_fft, centred, reflect padding",
            "filters": "librosa.filters.mel (Slaney)",
        }

    def mel_axis(self) -> int:
        return 3 if self.layout == "time_mels" else 2


CONTRACTS = {
    "audiomuse-htsat": Contract(
        "AudioMuse-AI's CLAP audio graph (LAION-CLAP HTSAT teacher, clap_audio_model.onnx)",
        n_mels=64,
        n_fft=1024,
        hop=480,
        fmin=50,
        fmax=14000,
        layout="time_mels",
    ),
    "audiomuse-student": Contract(
        "AudioMuse-AI's distilled CLAP audio graph (EfficientAT student, model_epoch_36.onnx + .onnx.data)",
        n_mels=128,
        n_fft=2048,
        hop=480,
        fmin=0,
        fmax=14000,
        layout="mels_time",
    ),
}


def _session(path: Path, what: str):
    from musictext.model.runtime import make_session

    if not path.is_file():
        raise ModelError(f"no such {what} ONNX file", path)
    try:
        return make_session(path, ("CPUExecutionProvider",), 2)
    except ModelError as exc:
        raise ModelError(f"{what} graph: {exc.message}", path) from None


def _shape(arg) -> list:
    return [d if isinstance(d, int) and d > 0 else None for d in arg.shape]


def audio_contract(session, path: Path, wanted: str | None) -> str:
    """The contract the audio graph follows (``wanted``, or the one its input shape names)."""
    inputs = session.get_inputs()
    names = [i.name for i in inputs]
    if names != ["mel_spectrogram"]:
        raise ModelError(f"audio graph takes {names}; the contract is one input, 'mel_spectrogram'", path)
    arg = inputs[0]
    shape = _shape(arg)
    if arg.type != "tensor(float)" or len(shape) != 4 or shape[1] not in (1, None):
        raise ModelError(
            f"audio graph input is {arg.type} {arg.shape}; the contract is float32 [batch, 1, frames, mels]"
            " or [batch, 1, mels, frames]",
            path,
        )
    if wanted:
        contract = CONTRACTS[wanted]
        fixed = shape[contract.mel_axis()]
        if fixed not in (None, contract.n_mels):
            raise ModelError(
                f"audio graph input {arg.shape} has {fixed} where {wanted} puts its {contract.n_mels} mel bins", path
            )
        return wanted
    found = [n for n, c in CONTRACTS.items() if shape[c.mel_axis()] == c.n_mels]
    if len(found) != 1:
        raise ModelError(
            f"cannot tell the layout from the audio graph's input {arg.shape}; pass --contract"
            f" ({' or '.join(CONTRACTS)})",
            path,
        )
    return found[0]


def _embed(session, x: np.ndarray) -> np.ndarray:
    name, output = session.get_inputs()[0].name, session.get_outputs()[0].name
    got = np.asarray(session.run([output], {name: x})[0], np.float64)
    return got.reshape(x.shape[0], -1) if got.ndim != 2 else got


def audio_probe(session, path: Path, contract: Contract) -> np.ndarray:
    """The embedding of a 10 s chord (one window through the contract's front end)."""
    t = np.arange(WINDOW) / SAMPLE_RATE
    wave = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)).astype(np.float32)
    mel = MelFrontEnd(contract.mel)(windows(wave, 1, repeat=False)[0])[None, None]
    try:
        got = _embed(session, mel)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"audio graph fails on a 10 s window ({str(exc).splitlines()[0][:160]})", path) from None
    return _finite(got, path, "audio")


def _finite(got: np.ndarray, path: Path, what: str) -> np.ndarray:
    if got.shape[0] != 1 or got.shape[1] < 8:
        raise ModelError(f"{what} graph answers {list(got.shape)}; the contract is one [batch, D] embedding", path)
    if not np.isfinite(got).all() or float(np.linalg.norm(got)) < 1e-9:
        raise ModelError(f"{what} graph answers a non-finite or zero embedding", path)
    return got


def text_width(session, path: Path) -> int:
    """Tokens per text: the graph's fixed width, else the contract's 77."""
    inputs = {i.name: i for i in session.get_inputs()}
    extra = set(inputs) - {"input_ids", "attention_mask", "token_type_ids"}
    if {"input_ids", "attention_mask"} - set(inputs) or extra:
        raise ModelError(f"text graph takes {sorted(inputs)}; the contract is input_ids and attention_mask", path)
    widths = set()
    for name in ("input_ids", "attention_mask"):
        arg = inputs[name]
        shape = _shape(arg)
        if arg.type != "tensor(int64)" or len(shape) != 2:
            raise ModelError(
                f"text graph input {name} is {arg.type} {arg.shape}; the contract is int64 [batch, tokens]", path
            )
        widths.add(shape[1])
    fixed = {w for w in widths if w}
    if len(fixed) > 1 or (fixed and min(fixed) < 8):
        raise ModelError(f"text graph inputs have token widths {sorted(fixed)}", path)
    return fixed.pop() if fixed else TEXT_TOKENS


def text_probe(session, path: Path, tokenizer: Path, width: int) -> tuple[np.ndarray, dict]:
    """The embedding of a phrase, and the feed that made it."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    tok.enable_truncation(max_length=min(width, TEXT_TOKENS))
    ids = tok.encode("a calm piano piece").ids
    feed = {"input_ids": np.full((1, width), PAD_ID, np.int64), "attention_mask": np.zeros((1, width), np.int64)}
    feed["input_ids"][0, : len(ids)] = ids
    feed["attention_mask"][0, : len(ids)] = 1
    if "token_type_ids" in {i.name for i in session.get_inputs()}:
        feed["token_type_ids"] = np.zeros((1, width), np.int64)
    try:
        got = np.asarray(session.run([session.get_outputs()[0].name], feed)[0], np.float64)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"text graph fails on a phrase ({str(exc).splitlines()[0][:160]})", path) from None
    return _finite(got.reshape(1, -1) if got.ndim != 2 else got, path, "text"), feed


def reserialise(source: Path, folder: Path, stem: str) -> dict:
    """``stem``.onnx (+ ``stem``.onnx.data) in ``folder``: the graph as onnxruntime reads it, no
    optimisation, weights of 1 KiB and more in the data file. Returns the manifest's file entries."""
    from musictext.model.runtime import onnxruntime

    ort = onnxruntime()
    graph, data = folder / f"{stem}.onnx", folder / f"{stem}.onnx.data"
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.optimized_model_filepath = str(graph)
    opts.add_session_config_entry("session.optimized_model_external_initializers_file_name", data.name)
    opts.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    opts.log_severity_level = 3
    try:
        ort.InferenceSession(str(source), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot re-serialise the graph ({str(exc).splitlines()[0][:160]})", source) from None
    files = {stem: _entry(graph)}
    if data.is_file() and data.stat().st_size:
        files[f"{stem}_data"] = _entry(data)
    else:
        data.unlink(missing_ok=True)
    return files


def _entry(path: Path) -> dict:
    return {"path": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def _same(a: np.ndarray, b: np.ndarray, path: Path) -> float:
    diff = float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
    if diff > RESERIALISE_TOLERANCE:
        raise ModelError(f"the re-serialised graph differs from the original by {diff:.1e}", path)
    return diff


def import_onnx(
    audio: Path,
    text: Path,
    tokenizer_dir: Path,
    contract: str | None = None,
    name: str | None = None,
    licence: str | None = None,
    base: Bundle | None = None,
) -> Bundle:
    """Check the pair against the contract and write the bundle; every refusal is one ModelError line."""
    from musictext.config import user_models_dir
    from musictext.model.bundle import get_bundle
    from musictext.model.runtime import make_session

    audio, text = Path(audio), Path(text)
    if contract is not None and contract not in CONTRACTS:
        raise MusictextError(f"unknown contract {contract!r}: {', '.join(CONTRACTS)}")
    name = name or "clap-" + re.sub(r"[^a-z0-9]+", "-", audio.stem.lower()).strip("-")[:40]
    if not name.replace("-", "").replace("_", "").isalnum():
        raise MusictextError(f"model name {name!r}: use letters, digits, - and _")
    base = base or get_bundle(None)
    if not base.builtin:
        base = get_bundle(base.base_name)
    audio_session, text_session = _session(audio, "audio"), _session(text, "text")
    chosen = audio_contract(audio_session, audio, contract)
    spec = CONTRACTS[chosen]
    width = text_width(text_session, text)
    root = user_models_dir()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        tok_sums = build_tokenizer(Path(tokenizer_dir), tmp / "tokenizer.json")
        a_vec = audio_probe(audio_session, audio, spec)
        t_vec, feed = text_probe(text_session, text, tmp / "tokenizer.json", width)
        if a_vec.shape[1] != t_vec.shape[1]:
            raise ModelError(
                f"the audio graph gives {a_vec.shape[1]} dimensions and the text graph {t_vec.shape[1]}: not a pair",
                text,
            )
        files = reserialise(audio, tmp, "audio") | reserialise(text, tmp, "text")
        mel = MelFrontEnd(spec.mel)(windows(np.zeros(WINDOW, np.float32) + 0.01, 1, repeat=False)[0])[None, None]
        diffs = {
            "audio": _same(_embed(make_session(tmp / "audio.onnx", threads=2), mel), _embed(audio_session, mel), audio),
            "text": _same(
                make_session(tmp / "text.onnx", threads=2).run(None, feed)[0], text_session.run(None, feed)[0], text
            ),
        }
        files["tokenizer"] = _entry(tmp / "tokenizer.json")
        manifest = _manifest(name, audio, text, chosen, spec, width, int(a_vec.shape[1]), base, licence, tok_sums)
        manifest["files"] = files
        manifest["outputs"] = {  # the contract names no outputs: the first one is the embedding
            "audio": [audio_session.get_outputs()[0].name],
            "text": [text_session.get_outputs()[0].name],
        }
        manifest["clap"]["reserialise_max_abs_diff"] = diffs
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return finish_bundle(tmp, name, manifest, model_card(manifest))


def _manifest(name, audio, text, chosen, spec, width, joint, base, licence, tok_sums) -> dict:
    audio_sums = {audio.name: sha256_file(audio)}
    for sidecar in (audio.with_name(audio.name + ".data"), audio.with_suffix(".data")):
        if sidecar.is_file():
            audio_sums[sidecar.name] = sha256_file(sidecar)
    return manifest_head(
        name,
        audio_sums[audio.name][:8],
        base,
        f"CLAP joint embedding imported from {audio.name} + {text.name} ({spec.title})",
        licence,
    ) | {
        "sources": {
            "audio_onnx": audio_sums,
            "text_onnx": {text.name: sha256_file(text)},
            "tokenizer": tok_sums,
            "contract": f"{chosen}: {SOURCE}",
        },
        "frontend": {
            "sample_rate": SAMPLE_RATE,
            "mono": "mean of channels",
            "resampler": "soxr HQ",
            "window_seconds": WINDOW // SAMPLE_RATE,
            "window_samples": WINDOW,
            "quantise": "int16 round trip",
            "pad": "zeros",
            "short_audio": "zero padded to one window",
            "in_graph": None,
            "mel": spec.mel,
            "track": "mean of window embeddings, renormalised",
        },
        "text": {
            "max_length": min(width, TEXT_TOKENS),
            "pad_to": width,
            "pad_id": PAD_ID,
            "tokenizer": "byte-level BPE (vocab.json + merges.txt)",
        },
        "inputs": {"audio": ["mel_spectrogram"], "text": ["input_ids", "attention_mask"]},
        "dims": {"text": joint, "joint": joint},
        "tags": base.manifest["tags"],
        "prompt_template": base.manifest.get("prompt_template", "{} music"),
        "clap": {"architecture": spec.title, "joint": joint, "contract": chosen, "imported_from": "onnx"},
    }


def model_card(m: dict) -> str:
    c, f = m["clap"], m["frontend"]["mel"]
    sums = "; ".join(
        f"`{k}` sha256 `{v}`" for k, v in {**m["sources"]["audio_onnx"], **m["sources"]["text_onnx"]}.items()
    )
    return f"""# {m["name"]}

A CLAP joint audio-text embedding imported with `musictext models import-onnx`.

- Graphs: {c["architecture"]}; joint space {c["joint"]} dimensions. Source files: {sums}.
- Contract: `{c["contract"]}`, as documented by {SOURCE}; checked on import (input names, types
  and shapes, a probe through each graph, equal widths) and re-serialised by onnxruntime
  (max |difference| from the originals: audio {c["reserialise_max_abs_diff"]["audio"]:.1e},
  text {c["reserialise_max_abs_diff"]["text"]:.1e}).
- Audio: 48 kHz mono, 10 s windows through int16, zero padded; log-mel {f["n_mels"]} bins, n_fft {f["n_fft"]},
  hop {f["hop"]}, {f["fmin"]}-{f["fmax"]} Hz, in dB, laid out as `{f["layout"]}`; a track is the mean of its windows.
- Tokenizer: RoBERTa byte-level BPE from the user's vocab.json and merges.txt; texts padded with
  `<pad>` to {m["text"]["pad_to"]} tokens.
- Licence (as stated by the user): {m["licenses"]["clap"]}.
- Concepts (tags, tempo, key, loudness, learned concepts) come from the base bundle `{m["base"]}`;
  search scores mix them with this joint space ("joint" scoring).

Quality: musictext cannot measure this model's quality without a labelled corpus of your own; run
`musictext eval` on your labelled files to see how it ranks them.
"""
