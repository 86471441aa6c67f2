"""Shared fixtures: every test gets its own MUSICTEXT_HOME, and small real audio made on the spot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
AUDIO = DATA / "audio"
SR = 22050


@pytest.fixture(autouse=True, scope="session")
def shared_model_copies(tmp_path_factory):
    """One fast-loading copy of each text tower for the whole run (runtime.fast_copy), not 90 MB
    in every test's data folder; CLI subprocesses inherit it."""
    before = os.environ.get("MUSICTEXT_MODEL_CACHE")
    os.environ["MUSICTEXT_MODEL_CACHE"] = str(tmp_path_factory.mktemp("model-copies"))
    yield
    if before is None:
        os.environ.pop("MUSICTEXT_MODEL_CACHE", None)
    else:
        os.environ["MUSICTEXT_MODEL_CACHE"] = before


@pytest.fixture(autouse=True)
def musictext_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MUSICTEXT_HOME", str(home))
    return home


def tone(
    seconds: float, freqs=(220.0,), sr: int = SR, seed: int = 0, clicks_per_s: float = 0.0, amp: float = 0.3
) -> np.ndarray:
    """Harmonic notes, optionally with percussive clicks: enough music for the taggers to react to."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for f in freqs:
        for h in range(1, 5):
            y += np.sin(2 * np.pi * f * h * t) / h
    y *= amp / max(1e-9, np.abs(y).max())
    if clicks_per_s:
        step = int(sr / clicks_per_s)
        for start in range(0, len(t) - 2000, step):
            y[start : start + 2000] += rng.normal(0, 0.4, 2000) * np.exp(-np.arange(2000) / 300)
    return (y / max(1.0, np.abs(y).max() / 0.9)).astype(np.float32)


@pytest.fixture
def library(tmp_path) -> Path:
    """A tiny library: a few generated tracks in two formats and folders, plus committed fixtures."""
    return make_library(tmp_path)


def make_library(folder: Path) -> Path:
    import soundfile as sf

    root = folder / "Music"
    (root / "calm").mkdir(parents=True)
    (root / "busy").mkdir()
    sf.write(root / "calm" / "low hum.wav", tone(8, (110.0, 165.0)), SR)
    sf.write(root / "calm" / "chord.flac", tone(8, (261.6, 329.6, 392.0), seed=1), SR)
    sf.write(root / "busy" / "clicks.wav", tone(8, (440.0,), seed=2, clicks_per_s=6), SR)
    sf.write(root / "busy" / "noise.flac", np.random.default_rng(3).normal(0, 0.2, SR * 8).astype(np.float32), SR)
    shutil.copy(AUDIO / "tone.mp3", root / "busy" / "tone.mp3")
    shutil.copy(AUDIO / "tone.ogg", root / "calm" / "tone.ogg")
    return root


@pytest.fixture(scope="session")
def served_library(tmp_path_factory):
    """A small library in a real store, served by one `musictext serve` on 127.0.0.1 for the whole
    session (with a playlist folder): (server, home, music root, playlist folder)."""
    import os

    from serve_support import Server, write_audio, write_store

    base = tmp_path_factory.mktemp("served")
    home, root, playlists = base / "home", base / "Music", base / "playlists"
    playlists.mkdir()
    write_audio(root)
    before = os.environ.get("MUSICTEXT_HOME")
    try:
        write_store(home, root)
    finally:
        if before is None:
            os.environ.pop("MUSICTEXT_HOME", None)
        else:
            os.environ["MUSICTEXT_HOME"] = before
    server = Server(home, "--playlist-dir", str(playlists))
    yield server, home, root, playlists
    server.stop()
