"""The Ray engine: the analyse step of `musictext index` on a Ray cluster (the ``cluster`` extra).

Ray Data reads the file list; ``map_batches`` runs :class:`AnalyseActor`, a callable class with one
ONNX session per actor (``num_cpus``/``num_gpus`` per actor), and the driver receives the features
as they finish. Everything else (scan, plan, moves, bad files, batched SQLite writes, kill-safety)
is the local engine's, in ``musictext/library/index.py``: only this step differs.

Shared storage: every worker must see the library's files at the same paths as the driver (an NFS
or SMB mount, a cluster file system). A worker that cannot open a path reports it as a bad file,
naming the worker's host, and the run goes on.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from musictext.audio.tower import TrackFeatures
from musictext.cluster import need
from musictext.errors import ModelError, MusictextError

N_PROBS, N_POOLED = 100, 400
FILES_PER_BATCH = 1  # one track per actor call: results reach the driver (and the store) as they finish


@dataclass(frozen=True)
class RayOptions:
    """Where and how the Ray engine runs: ``address`` None starts a local cluster for this run,
    "auto" joins the one started on this machine, ``ray://HOST:PORT`` or ``HOST:PORT`` a remote one."""

    address: str | None = None
    num_cpus: float = 1.0  # per actor; its ONNX session gets as many threads
    num_gpus: float = 0.0  # per actor; > 0 runs the tower on CUDA there
    actors: int | None = None  # None: as many as the cluster's CPUs (or GPUs) allow


class AnalyseActor:
    """One ONNX session per actor, made once; each call analyses a batch of paths."""

    def __init__(
        self, bundle_name: str, model_id: str, device: str, threads: int, budget: int | None, mood_id: str | None = None
    ):
        from musictext.audio.tower import worker_init
        from musictext.model.bundle import get_bundle
        from musictext.model.runtime import choose_device

        bundle = get_bundle(bundle_name)
        if bundle.model_id != model_id:  # vectors are never mixed: the worker must run the same model
            raise ModelError(f"this worker has {bundle.model_id}, the driver {model_id}: install the same musictext")
        mood = None
        if mood_id is not None:  # the driver stores mood axes: this worker must have the same vibenet
            from musictext.audio.mood import find_mood_model

            mood = find_mood_model()
            if mood.model_id != mood_id:
                raise ModelError(f"this worker has mood model {mood.model_id}, the driver {mood_id}: install the same")
        worker_init(bundle, choose_device(device).providers, threads, budget, mood_model=mood)
        self.host = socket.gethostname()

    def __call__(self, batch: dict) -> dict:
        results = [self._one(str(p)) for p in batch["path"]]
        return rows_to_batch(results)

    def _one(self, path: str) -> tuple[str, TrackFeatures | None, str | None]:
        from musictext.audio.tower import worker_analyse

        try:
            with open(path, "rb") as fh:  # the shared-storage check: can this worker see the file?
                fh.read(1)
        except OSError as exc:
            return (
                path,
                None,
                f"worker {self.host} cannot open it ({exc.strerror or exc}); the ray engine needs shared storage",
            )
        return worker_analyse(path)


def rows_to_batch(results: list[tuple[str, TrackFeatures | None, str | None]]) -> dict:
    """Columns Ray Data can carry: fixed-shape arrays for the vectors, JSON for the descriptors."""
    n = len(results)
    probs, pooled = np.zeros((n, N_PROBS), np.float32), np.zeros((n, N_POOLED), np.float32)
    meta, reasons = [], []
    for i, (_, feats, reason) in enumerate(results):
        if feats is None:
            meta.append("")
            reasons.append(reason or "unknown error")
            continue
        probs[i], pooled[i] = feats.probs, feats.pooled
        meta.append(
            json.dumps(
                {
                    "mode": feats.mode,
                    "duration": feats.duration,
                    "analysed_s": feats.analysed_s,
                    "d": feats.descriptors,
                    "mood": feats.mood,
                }
            )
        )
        reasons.append("")
    return {
        "path": np.array([r[0] for r in results], dtype=object),
        "ok": np.array([r[1] is not None for r in results], dtype=bool),
        "reason": np.array(reasons, dtype=object),
        "meta": np.array(meta, dtype=object),
        "probs": probs,
        "pooled": pooled,
    }


def batch_to_rows(batch: dict) -> Iterator[tuple[str, TrackFeatures | None, str | None]]:
    for i, path in enumerate(batch["path"]):
        if not bool(batch["ok"][i]):
            yield str(path), None, str(batch["reason"][i])
            continue
        m = json.loads(str(batch["meta"][i]))
        feats = TrackFeatures(
            mode=m["mode"],
            duration=m["duration"],
            analysed_s=m["analysed_s"],
            probs=np.asarray(batch["probs"][i], np.float32),
            pooled=np.asarray(batch["pooled"][i], np.float32),
            descriptors=m["d"],
            mood=m.get("mood"),
        )
        yield str(path), feats, None


def require() -> None:
    """Fail at once, before any scanning, when the cluster extra is missing."""
    for module in ("ray", "ray.data", "pyarrow"):
        need(module, "--engine ray")


def _connect(ray, options: RayOptions, jobs: int | None) -> bool:
    """Join or start a cluster; True when this call started the connection (and must close it)."""
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": "ERROR", "configure_logging": True}
    try:
        if options.address is None:
            ray.init(num_cpus=jobs or os.cpu_count() or 1, include_dashboard=False, **quiet)
        else:
            ray.init(address=options.address, **quiet)
    except ConnectionError as exc:
        raise MusictextError(f"cannot reach the Ray cluster at {options.address}: {exc}") from None
    except Exception as exc:  # Ray raises RuntimeError and others for a bad address
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MusictextError(f"cannot start or join a Ray cluster ({line})") from None
    return True


def _actors(ray, options: RayOptions, n_paths: int) -> int:
    if options.actors:
        wanted = options.actors
    else:
        res = ray.cluster_resources()
        if not options.num_cpus and not options.num_gpus:  # actors that ask for nothing: one per CPU
            return max(1, min(int(res.get("CPU", 1)), n_paths))
        by_cpu = int(res.get("CPU", 1) // max(options.num_cpus, 1e-9)) if options.num_cpus else n_paths
        by_gpu = int(res.get("GPU", 0) // options.num_gpus) if options.num_gpus else n_paths
        wanted = min(by_cpu, by_gpu)
        if wanted < 1:
            raise MusictextError(
                f"the Ray cluster has {res.get('CPU', 0):g} CPU(s) and {res.get('GPU', 0):g} GPU(s):"
                f" too few for one actor of {options.num_cpus:g} CPU(s) and {options.num_gpus:g} GPU(s)"
            )
    return max(1, min(wanted, n_paths))


def analyse_on_ray(
    bundle,
    device: str,
    budget: int | None,
    paths: list[str],
    jobs: int | None,
    options: RayOptions,
    mood_id: str | None = None,
) -> Iterator[tuple[str, TrackFeatures | None, str | None]]:
    """Analyse ``paths`` on a Ray cluster; yields (path, features, None) or (path, None, reason)
    in the order they finish, as ``tower.analyse_all`` does."""
    require()
    import ray

    if not paths:
        return
    started = _connect(ray, options, jobs)
    try:
        import logging

        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        if hasattr(ctx, "print_on_execution_start"):
            ctx.print_on_execution_start = False
        actors = _actors(ray, options, len(paths))
        if device == "auto" and options.num_gpus > 0:
            device = "cuda"
        ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=len(paths))
        with warnings.catch_warnings():  # max_restarts has no named parameter yet: Ray warns of that
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
            ds = _map(ds, device, budget, bundle, options, actors, mood_id)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
            yield from batch_to_rows(batch)
    except MusictextError:
        raise
    except Exception as exc:
        chain = _causes(exc)
        model_error = next((e for e in chain if isinstance(e, ModelError)), None)
        if model_error is not None:  # raised in an actor, wrapped by Ray: shown as itself
            raise model_error from None
        root = chain[-1]
        line = str(root).strip().splitlines()[0] if str(root).strip() else ""
        raise MusictextError(f"the Ray run failed ({type(root).__name__}: {line}); a rerun resumes") from None
    finally:
        if started:
            ray.shutdown()


def _map(ds, device: str, budget: int | None, bundle, options: RayOptions, actors: int, mood_id: str | None):
    return ds.map_batches(
        AnalyseActor,
        fn_constructor_kwargs={
            "bundle_name": bundle.name,
            "model_id": bundle.model_id,
            "device": device,
            "threads": max(1, int(options.num_cpus)),
            "budget": budget,
            "mood_id": mood_id,
        },
        # An actor that dies (a decoder crash, a lost node) ends the run rather than being
        # restarted on the same file forever; what was stored stays, and a rerun resumes.
        max_restarts=0,
        batch_size=FILES_PER_BATCH,
        batch_format="numpy",
        concurrency=actors,
        num_cpus=options.num_cpus,
        num_gpus=options.num_gpus,
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, outermost first (Ray wraps an actor's error in its own)."""
    chain: list[BaseException] = []
    while exc is not None and all(exc is not e for e in chain):
        chain.append(exc)
        cause = getattr(exc, "cause", None)
        exc = cause if isinstance(cause, BaseException) else exc.__cause__
    return chain
