"""`models import-onnx`: CLAP ONNX pairs under AudioMuse-AI's documented contract (small graphs
with random weights, made here with torch in both audio layouts) go import -> bundle -> index ->
search -> verify, and what breaks the contract is refused in one line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.clap_fixture import write_tokenizer
from tests.conftest import make_library
from tests.test_cli_index_search import mt

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

JOINT = 24


class Audio(torch.nn.Module):
    """[batch, 1, frames, mels] (or [batch, 1, mels, frames]) -> [batch, JOINT] unit vectors."""

    def __init__(self, mels: int, time_axis: int):
        super().__init__()
        self.time_axis = time_axis
        self.proj = torch.nn.Linear(2 * mels, JOINT)

    def forward(self, mel):
        x = mel[:, 0]
        feats = torch.cat([x.mean(dim=self.time_axis - 1), x.std(dim=self.time_axis - 1)], dim=1) / 40.0
        y = torch.tanh(self.proj(feats))
        return y / y.norm(dim=1, keepdim=True)


class Text(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(50265, 8)
        self.proj = torch.nn.Linear(8, JOINT)

    def forward(self, input_ids, attention_mask):
        m = attention_mask.unsqueeze(-1).float()
        pooled = (self.emb(input_ids) * m).sum(1) / m.sum(1)
        y = self.proj(pooled)
        return y / y.norm(dim=1, keepdim=True)


def export(module, inputs, names, path: Path, axes: dict, external: bool = False) -> Path:
    import warnings

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            inputs,
            str(path),
            input_names=names,
            output_names=["out"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    if external:  # the student ships its weights beside the graph, under the graph's own file name
        model = onnx.load(str(path))
        onnx.save_model(model, str(path), save_as_external_data=True, location=path.name + ".data", size_threshold=0)
    return path


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clap-onnx")
    torch.manual_seed(3)
    teacher = export(  # [batch, 1, frames, 64], any batch, any frames
        Audio(64, 2).eval(),
        (torch.randn(1, 1, 1001, 64),),
        ["mel_spectrogram"],
        folder / "clap_audio_model.onnx",
        {"mel_spectrogram": {0: "batch", 2: "frames"}},
    )
    (folder / "student").mkdir()
    student = export(  # [1, 1, 128, frames], a fixed batch of one, external data
        Audio(128, 3).eval(),
        (torch.randn(1, 1, 128, 1001),),
        ["mel_spectrogram"],
        folder / "student" / "model_epoch_36.onnx",
        {"mel_spectrogram": {3: "frames"}},
        external=True,
    )
    ids = torch.ones(1, 77, dtype=torch.long)
    text = export(  # a fixed width of 77 tokens, as AudioMuse-AI's tokenizer call pads
        Text().eval(),
        (ids, ids.clone()),
        ["input_ids", "attention_mask"],
        folder / "clap_text_model.onnx",
        {"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}},
    )
    return {"teacher": teacher, "student": student, "text": text, "tokenizer": write_tokenizer(folder / "roberta")}


def reference_vector(audio_graph: Path, wav: np.ndarray, n_mels, n_fft, fmin, transpose, count) -> np.ndarray:
    """The contract computed here from its description, on the user's original graph: librosa's
    melspectrogram and power_to_db on 10 s int16-rounded windows, mean of embeddings, renormalised."""
    import librosa
    import onnxruntime as ort

    from musictext.model.clap import windows

    sess = ort.InferenceSession(str(audio_graph), providers=["CPUExecutionProvider"])
    embs = []
    for win in windows(wav, count, repeat=False):
        mel = librosa.feature.melspectrogram(
            y=win,
            sr=48000,
            n_fft=n_fft,
            hop_length=480,
            win_length=n_fft,
            window="hann",
            center=True,
            pad_mode="reflect",
            power=2.0,
            n_mels=n_mels,
            fmin=fmin,
            fmax=14000,
        )
        db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
        x = (db.T if transpose else db)[None, None].astype(np.float32)
        embs.append(sess.run(None, {"mel_spectrogram": x})[0][0])
    v = np.mean(embs, axis=0)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize(
    "layout,contract,n_mels,n_fft,fmin,transpose",
    [("teacher", "audiomuse-htsat", 64, 1024, 50, True), ("student", "audiomuse-student", 128, 2048, 0, False)],
)
def test_import_index_search_verify(graphs, tmp_path, musictext_home, layout, contract, n_mels, n_fft, fmin, transpose):
    name = f"onnx-{layout}"
    proc = mt(
        "models",
        "import-onnx",
        str(graphs[layout]),
        str(graphs["text"]),
        "--tokenizer",
        str(graphs["tokenizer"]),
        "--name",
        name,
        "--licence",
        "CC0-1.0 (test graphs)",
    )
    assert f"contract {contract}" in proc.stdout  # told from the input shape, not from a flag
    folder = musictext_home / "models" / name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "clap" and manifest["dims"]["joint"] == JOINT
    assert manifest["frontend"]["mel"]["n_mels"] == n_mels and manifest["text"]["pad_to"] == 77
    assert manifest["licenses"]["clap"] == "CC0-1.0 (test graphs)"
    assert max(manifest["clap"]["reserialise_max_abs_diff"].values()) <= 1e-5
    if layout == "student":  # the graph's own external-data file is folded into the bundle's
        assert "model_epoch_36.onnx.data" in manifest["sources"]["audio_onnx"]
        assert "audio_data" in manifest["files"]
    assert "ok" in mt("models", "verify", name).stdout

    root = make_library(tmp_path)
    report = json.loads(mt("index", str(root), "--model", name, "--json", "-q").stdout.splitlines()[-1])
    assert report["indexed"] >= 5
    db = sqlite3.connect(next(musictext_home.rglob("library.sqlite3")))
    rows = dict(
        db.execute(
            "SELECT t.path, v.vector FROM vectors v JOIN tracks t ON t.id=v.track_id WHERE model LIKE ?", (f"{name}@%",)
        ).fetchall()
    )
    assert len(rows) >= 5
    # Each stored vector is the contract applied to the original graph, computed independently.
    from musictext.model.clap import decode_48k

    for path in [p for p in rows if p.endswith((".flac", ".mp3"))][:2]:
        want = reference_vector(graphs[layout], decode_48k(path), n_mels, n_fft, fmin, transpose, 3)
        got = np.frombuffer(rows[path], np.float32)
        assert np.abs(got - want).max() < 1e-4, path

    hits = [json.loads(x) for x in mt("search", "a calm piano piece", "--model", name, "--json").stdout.splitlines()]
    assert len(hits) >= 3 and all(np.isfinite(h["score"]) for h in hits)
    # The text side is the contract too: the query's vector is the original text graph's on 77 tokens.
    from tokenizers import Tokenizer

    from musictext.model.bundle import get_bundle
    from musictext.model.textspace import TextSide

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    ids = tok.encode("a calm piano piece").ids
    feed = {"input_ids": np.ones((1, 77), np.int64), "attention_mask": np.zeros((1, 77), np.int64)}
    feed["input_ids"][0, : len(ids)], feed["attention_mask"][0, : len(ids)] = ids, 1
    import onnxruntime as ort

    want = ort.InferenceSession(str(graphs["text"]), providers=["CPUExecutionProvider"]).run(None, feed)[0][0]
    got = TextSide(get_bundle(name)).encoder.encode(["a calm piano piece"])[0]
    assert np.abs(got - want / np.linalg.norm(want)).max() < 1e-5

    data = folder / manifest["files"]["audio"]["path"]
    data.write_bytes(data.read_bytes()[:-8] + b"\0" * 8)  # tampered after import
    failed = mt("models", "verify", name, check=False)
    assert failed.returncode != 0 and "FAIL" in failed.stderr + failed.stdout


def refused(*args) -> str:
    proc = mt("models", "import-onnx", *map(str, args), check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_refusals(graphs, tmp_path, musictext_home):
    tok = graphs["tokenizer"]
    wrong_input = export(Audio(64, 2).eval(), (torch.randn(1, 1, 1001, 64),), ["waveform"], tmp_path / "wave.onnx", {})
    assert "'mel_spectrogram'" in refused(wrong_input, graphs["text"], "--tokenizer", tok)
    odd_bins = export(
        Audio(80, 2).eval(), (torch.randn(1, 1, 1001, 80),), ["mel_spectrogram"], tmp_path / "m80.onnx", {}
    )
    assert "--contract" in refused(odd_bins, graphs["text"], "--tokenizer", tok)
    assert "mel bins" in refused(odd_bins, graphs["text"], "--tokenizer", tok, "--contract", "audiomuse-htsat")

    # A text graph of another width is not this audio graph's pair.
    class Narrow(Text):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(8, JOINT + 8)

    ids = torch.ones(1, 77, dtype=torch.long)
    narrow = export(Narrow().eval(), (ids, ids.clone()), ["input_ids", "attention_mask"], tmp_path / "t.onnx", {})
    assert "not a pair" in refused(graphs["teacher"], narrow, "--tokenizer", tok)
    assert "tokens" in refused(
        graphs["teacher"], graphs["text"], "--tokenizer", write_tokenizer(tmp_path / "small", 5000)
    )
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "model_epoch_36.onnx").write_bytes(graphs["student"].read_bytes())  # its .onnx.data left behind
    assert "cannot load" in refused(lonely / "model_epoch_36.onnx", graphs["text"], "--tokenizer", tok)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a graph")
    assert "cannot load" in refused(junk, graphs["text"], "--tokenizer", tok)
    assert not [p for p in (musictext_home / "models").glob("*") if p.name.startswith(".")]  # no partial bundle left
