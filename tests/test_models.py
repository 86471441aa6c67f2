import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from musictext.errors import DependencyError, ModelError
from musictext.model import bundle as bundle_mod
from musictext.model.bundle import Bundle, get_bundle
from musictext.model.runtime import choose_device

ROOT = Path(__file__).resolve().parents[1]


def test_default_bundle_manifest_is_complete():
    b = get_bundle()
    m = b.manifest
    assert b.name == "musicnn-minilm" and b.builtin
    assert len(m["tags"]) == 100 and {t["source"] for t in m["tags"]} == {"msd", "mtt"}
    assert m["frontend"]["patch_frames"] == 187 and m["dims"]["text"] == 384
    for role in ("audio", "text", "tokenizer"):
        assert b.file(role).exists()
    card = (b.path / "MODEL_CARD.md").read_text()
    assert "0.9067" in card and "0.8802" in card and "ISC" in card and "Apache-2.0" in card


def test_altered_file_is_refused(tmp_path):
    src = get_bundle()
    copy = tmp_path / "musicnn-minilm"
    shutil.copytree(src.path, copy)
    with open(copy / "tokenizer.json", "a") as fh:
        fh.write(" ")
    altered = Bundle(src.name, copy, json.loads((copy / "manifest.json").read_text()))
    bundle_mod._verified.clear()
    with pytest.raises(ModelError, match="checksum mismatch"):
        altered.file("tokenizer")


def test_models_verify_cli_passes():
    proc = subprocess.run([sys.executable, "-m", "musictext", "models", "verify"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok ") >= 5


def test_models_concepts_lists_tags_descriptors_and_learned_concepts():
    def concepts(*extra):
        proc = subprocess.run(
            [sys.executable, "-m", "musictext", "models", "concepts", "--json", *extra], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return {c["name"]: c for c in map(json.loads, proc.stdout.splitlines())}

    every = concepts()
    assert every["rock"]["sources"] == ["msd", "mtt"] and every["minor key"]["sources"] == ["descriptor"]
    assert every["fast"]["sources"] == ["mtt", "descriptor"] and "quick" in every["fast"]["phrases"]
    organ = every["church organ"]
    assert organ["sources"] == ["learned"] and "pipe organ" in organ["phrases"] and organ["validation_auc"] >= 0.85
    learned = concepts("--learned")
    assert "church organ" in learned and "rock" not in learned and set(learned) < set(every)


def test_device_choice_with_faked_providers(monkeypatch):
    cpu_only = ["CPUExecutionProvider"]
    with_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_device("auto", cpu_only).name == "cpu"
    assert choose_device("cpu", with_cuda).name == "cpu"
    with pytest.raises(DependencyError):
        choose_device("cuda", cpu_only)
    monkeypatch.setattr("musictext.model.runtime._cuda_usable", lambda: (True, "driver present"))
    assert choose_device("auto", with_cuda).providers[0] == "CUDAExecutionProvider"
    assert choose_device("cuda", with_cuda).name == "cuda"
    monkeypatch.setattr("musictext.model.runtime._cuda_usable", lambda: (False, "no NVIDIA driver found"))
    assert choose_device("auto", with_cuda).name == "cpu"
    with pytest.raises(DependencyError, match="no NVIDIA driver"):
        choose_device("cuda", with_cuda)


def test_completions_have_not_drifted():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "completions" / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_help_and_search_do_not_import_torch_or_librosa():
    code = (
        "import sys, musictext.cli.app as a, musictext.search, musictext.query;"
        "print('torch' in sys.modules, 'librosa' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["False", "False"]
