"""ONNX Runtime sessions: which execution provider runs, created lazily and once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from musictext.errors import DependencyError, ModelError, MusictextError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DeviceChoice:
    providers: tuple[str, ...]
    name: str  # "cpu" or "cuda"
    note: str  # why, for the one line the CLI prints


NO_RUNTIME = (
    'no ONNX runtime is installed: pip install "musictext[cpu]" (or "musictext[gpu]" for an NVIDIA GPU)'
)


def onnxruntime():
    """The onnxruntime module, or a one-line DependencyError saying which extra to install."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise DependencyError(NO_RUNTIME) from None
    return ort


def available_providers() -> list[str]:
    return list(onnxruntime().get_available_providers())


def _cuda_usable() -> tuple[bool, str]:
    """The provider being compiled in is not enough: a driver and a device must be there too."""
    if not (os.path.exists("/proc/driver/nvidia/version") or os.environ.get("MUSICTEXT_ASSUME_CUDA")):
        return False, "no NVIDIA driver found"
    return True, "CUDA provider and NVIDIA driver present"


def _both_runtimes_installed() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("onnxruntime")
        version("onnxruntime-gpu")
    except PackageNotFoundError:
        return False
    return True


def choose_device(device: str = "auto", available: list[str] | None = None) -> DeviceChoice:
    """Pick the execution provider for ``device`` ("auto", "cpu" or "cuda")."""
    if device not in DEVICES:
        raise MusictextError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    available = available_providers() if available is None else available
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cpu":
        return DeviceChoice(("CPUExecutionProvider",), "cpu", "asked for CPU")
    if has_cuda:
        usable, why = _cuda_usable()
    elif _both_runtimes_installed():
        usable, why = (
            False,
            (
                "onnxruntime and onnxruntime-gpu are both installed and the CPU build won; "
                "fix: pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"
            ),
        )
    else:
        usable, why = False, "onnxruntime has no CUDA provider; the 'gpu' extra adds it"
    if device == "cuda":
        if not usable:
            raise DependencyError(f"--device cuda: {why}")
        return DeviceChoice(("CUDAExecutionProvider", "CPUExecutionProvider"), "cuda", why)
    if usable:
        return DeviceChoice(("CUDAExecutionProvider", "CPUExecutionProvider"), "cuda", why)
    return DeviceChoice(("CPUExecutionProvider",), "cpu", why)


def make_session(
    path: Path, providers: tuple[str, ...] = ("CPUExecutionProvider",), threads: int | None = None
):
    """An InferenceSession with the thread count we choose (no spinning between two pools)."""
    ort = onnxruntime()

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load ONNX model ({str(exc).splitlines()[0]})", path) from exc
