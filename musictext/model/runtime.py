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


def worker_count() -> int:
    """Threads for one ONNX session when the caller does not say: the cores, at most two."""
    return min(2, os.cpu_count() or 1)


NO_RUNTIME = 'no ONNX runtime is installed: pip install "musictext[cpu]" (or "musictext[gpu]" for an NVIDIA GPU)'


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


def make_session(path: Path, providers: tuple[str, ...] = ("CPUExecutionProvider",), threads: int | None = None):
    """An InferenceSession with the thread count we choose (no spinning between two pools)."""
    ort = onnxruntime()

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or worker_count()
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load ONNX model ({str(exc).splitlines()[0]})", path) from exc


FAST_COPY_VERSION = 1


def fast_copy(path: Path, sha256: str) -> Path:
    """A copy of the graph at ``path`` (whose checksum is ``sha256``) that loads faster: the same
    graph and weights, re-serialised by onnxruntime with no optimisation, but with the weights in a
    separate file that onnxruntime maps instead of parsing out of the protobuf. The 87 MB text
    tower's session then takes about half as long to make (benchmarks/bench_index.py search),
    with bit-identical outputs (tests/test_text_model.py). Made once per graph and onnxruntime
    version in the data folder's cache; each file is checked by checksum (stamped) on use and the
    copy is made again when one does not match. ``path`` itself when there is no writable cache.
    $MUSICTEXT_MODEL_CACHE names another folder for these copies (~90 MB per text tower)."""
    import json

    from musictext.config import cache_dir
    from musictext.model.bundle import sha256_file, verify_file

    folder = Path(os.environ["MUSICTEXT_MODEL_CACHE"]) if os.environ.get("MUSICTEXT_MODEL_CACHE") else cache_dir()
    try:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = None
    if folder is None or not os.access(folder, os.W_OK):
        return path
    ort = onnxruntime()
    target = folder / f"onnx-{sha256[:24]}-ort{ort.__version__}-v{FAST_COPY_VERSION}"
    graph, weights, record = target / "model.onnx", target / "model.onnx.data", target / "files.json"
    try:
        files = json.loads(record.read_text(encoding="utf-8"))
        verify_file(graph, files["model.onnx"])
        verify_file(weights, files["model.onnx.data"])
        return graph
    except (OSError, ValueError, KeyError, TypeError, MusictextError):
        pass  # missing, partial or altered: make it again
    import shutil
    import tempfile

    from musictext.atomic import atomic_write, swap_folder

    try:
        staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=folder))
    except OSError:
        return path
    try:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the graph as it is
        opts.optimized_model_filepath = str(staged / graph.name)
        opts.add_session_config_entry("session.optimized_model_external_initializers_file_name", weights.name)
        opts.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        opts.log_severity_level = 3
        ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        sums = {name: sha256_file(staged / name) for name in (graph.name, weights.name)}
        atomic_write(staged / record.name, json.dumps(sums))
        staged.chmod(0o755)
        swap_folder(staged, target)
    except Exception:  # noqa: BLE001 - a cache: any failure means the original is used
        shutil.rmtree(staged, ignore_errors=True)
        return path
    return graph


class LazyGraph:
    """One ONNX graph whose session is made on first use, once (decoding workers that never reach
    inference never pay for it). Subclasses say where the graph is (``graph_path``)."""

    def __init__(self, providers: tuple[str, ...] = ("CPUExecutionProvider",), threads: int = 1):
        self.providers = providers
        self.threads = threads
        self._session = None

    def graph_path(self) -> Path:
        raise NotImplementedError

    @property
    def session(self):
        if self._session is None:
            self._session = make_session(self.graph_path(), self.providers, self.threads)
        return self._session
