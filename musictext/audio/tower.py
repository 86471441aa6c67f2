"""Audio tower: decoded patches -> musicnn tag probabilities, pooled features and descriptors.

One track is one unit of work. Workers are separate processes, each with a single-threaded ONNX
session, so decoding, the mel front end and inference of different tracks overlap on both cores
(measured faster than one process with a two-thread session; see benchmarks/).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musictext.config import DEFAULT_WINDOWS
from musictext.errors import DecodeError, ModelError, MusictextError
from musictext.model.bundle import Bundle
from musictext.model.runtime import LazyGraph, worker_count

DESCRIPTOR_WINDOWS = DEFAULT_WINDOWS  # 3-second windows the descriptors are measured on, in every mode
PATCH_SECONDS = 187 * 256 / 16000
SILENCE_RECHECK_WINDOWS = 64  # windows looked at before a track whose sampled windows were all silent is called silent
BATCH = 8  # larger batches are no faster and need ~300 MB per batch for the timbral convs


@dataclass
class TrackFeatures:
    mode: str
    duration: float
    analysed_s: float
    probs: np.ndarray  # [100] mean sigmoid over patches: MSD tags then MTT tags
    pooled: np.ndarray  # [400] mean penultimate over patches: MSD 200 then MTT 200
    descriptors: dict = field(default_factory=dict)
    mood: dict | None = None  # the seven mood axes (audio/mood.py) when vibenet is installed and asked for

    def as_store_dict(self) -> dict:
        return {
            "mode": self.mode,
            "analysed_s": self.analysed_s,
            "probs": self.probs,
            "pooled": self.pooled,
            "descriptors": self.descriptors,
        }


class AudioTower(LazyGraph):
    """The bundle's audio ONNX graph, loaded on first use."""

    def __init__(self, bundle: Bundle, providers: tuple[str, ...] = ("CPUExecutionProvider",), threads: int = 1):
        super().__init__(providers, threads)
        self.bundle = bundle

    def graph_path(self) -> Path:
        return self.bundle.file(self.bundle.audio_role)

    def run(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[n,187,96] log-mel patches -> (sigmoid tag probabilities [n,100], penultimate [n,400])."""
        probs, pooled = [], []
        for i in range(0, len(patches), BATCH):
            msd_l, msd_p, mtt_l, mtt_p = self.session.run(
                ["msd_logits", "msd_penultimate", "mtt_logits", "mtt_penultimate"],
                {"mel": np.ascontiguousarray(patches[i : i + BATCH], dtype=np.float32)},
            )
            logits = np.concatenate([msd_l, mtt_l], axis=1)
            probs.append(1.0 / (1.0 + np.exp(-logits)))
            pooled.append(np.concatenate([msd_p, mtt_p], axis=1))
        return np.concatenate(probs).astype(np.float32), np.concatenate(pooled).astype(np.float32)


def analyse(path: str | Path, tower: AudioTower, budget: int | None, mood=None) -> TrackFeatures:
    """Decode ``path`` (``budget`` windows, or all of it when None) and run the audio tower; with
    ``mood`` (a MoodTower), its axes too, on a contiguous excerpt from the middle of the track."""
    from musictext.audio.decode import is_silent, iter_patches, read_excerpt, track_patches
    from musictext.audio.descriptors import describe

    if budget is None:
        # Whole track: patches stream through the tower and only running sums are kept, so memory
        # does not grow with the track's length; descriptors come from the sampled windows.
        audio = track_patches(path, DESCRIPTOR_WINDOWS, excerpt=mood is not None)
        sum_probs, sum_pooled, n, loudest = 0.0, 0.0, 0, 0.0
        for chunk in iter_patches(path):
            p, f = tower.run(chunk)
            sum_probs, sum_pooled, n = sum_probs + p.sum(axis=0), sum_pooled + f.sum(axis=0), n + len(p)
            loudest = max(loudest, float(chunk.max()))
        if n == 0 or loudest <= 0.01:  # log-mel of a signal below about -85 dBFS: nothing to hear
            raise DecodeError("silent: nothing to analyse", path)
        probs, pooled = (sum_probs / n)[None], (sum_pooled / n)[None]
        analysed_s = n * PATCH_SECONDS
    else:
        audio = track_patches(path, budget, excerpt=mood is not None)
        if is_silent(audio) and budget < SILENCE_RECHECK_WINDOWS:
            # Every sampled window fell on silence (a track with long pauses): look at many more
            # windows, by seeking, before calling the track silent. Decoding all of it instead took
            # minutes and hundreds of MB on a long silent file.
            audio = track_patches(path, SILENCE_RECHECK_WINDOWS, excerpt=mood is not None)
        if is_silent(audio):
            raise DecodeError("silent: nothing to analyse", path)
        probs, pooled = tower.run(audio.patches)
        analysed_s = audio.analysed_s
    d = describe(audio.samples, window_starts=audio.window_starts or None)
    descriptors = {
        "bpm": d.bpm,
        "onset_rate": d.onset_rate,
        "key": d.key,
        "major": d.major_score,
        "loudness": d.loudness_db,
        "brightness": d.brightness,
        "percussive": d.percussive_ratio,
    }
    axes = None
    if mood is not None:
        excerpt = audio.excerpt
        if excerpt is None and audio.duration_s > audio.analysed_s:  # whole mode on a long track
            try:
                excerpt = read_excerpt(path, audio.duration_s)
            except DecodeError:  # a header that promises more than the file holds: judge what decoded
                excerpt = None
        axes = mood.axes(excerpt if excerpt is not None else audio.samples)
    return TrackFeatures(
        mood=axes,
        mode="full" if budget is None else f"sampled:{budget}",
        duration=float(audio.duration_s),
        analysed_s=float(analysed_s),
        probs=probs.mean(axis=0),
        pooled=pooled.mean(axis=0),
        descriptors={
            k: (None if v is None or not np.isfinite(v) else (int(v) if k == "key" else float(v)))
            for k, v in descriptors.items()
        },
    )


# Worker-process side ------------------------------------------------------------------------------
_tower: AudioTower | None = None
_budget: int | None = None
_mood = None  # a MoodTower when the run stores mood axes


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive the index run that started it (a SIGKILLed run does no clean-up).
    Workers are forked by multiprocessing's fork server, and every worker holds the fork server's
    "alive" pipe, so neither notices the run's death by itself: a thread watches the run's pid
    (a pidfd where Linux has one, else a poll each second) and ends the worker when it is gone."""
    import threading

    def watch() -> None:
        try:
            fd = os.pidfd_open(parent)
        except ProcessLookupError:
            os._exit(0)
        except (AttributeError, OSError):  # no pidfd (not Linux, or an old kernel)
            while _alive(parent):
                time.sleep(1.0)
            os._exit(0)
        select.select([fd], [], [])  # readable once the process has exited
        os._exit(0)

    if not _alive(parent):
        os._exit(0)
    threading.Thread(target=watch, name="musictext-watch-run", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_init(
    bundle: Bundle,
    providers: tuple[str, ...],
    threads: int,
    budget: int | None,
    parent: int | None = None,
    mood_model=None,
) -> None:
    global _tower, _budget, _mood
    if parent is not None:  # a worker process, not the in-process path
        # Ctrl-C and SIGTERM reach the whole process group; they are the parent's to handle (it stops
        # the workers). A worker that exited on its own would make the pool start a replacement while
        # the parent is still unwinding (a traceback from the pool's thread, seen in CI).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # the run is gone (SIGKILL): die quietly, no traceback
        _die_with_parent(parent)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _tower = AudioTower(bundle, providers, threads)
    _budget = budget
    if mood_model is not None:
        from musictext.audio.mood import MoodTower

        _mood = MoodTower(mood_model, providers, threads)
    else:
        _mood = None


def worker_analyse(path: str) -> tuple[str, TrackFeatures | None, str | None]:
    """(path, features, None) or (path, None, one-line reason); never raises for a bad file."""
    assert _tower is not None
    try:
        return path, analyse(path, _tower, _budget, _mood), None
    except ModelError:
        raise  # a broken model is not a bad file: stop the run
    except MusictextError as exc:
        return path, None, exc.message
    except MemoryError:
        return path, None, "out of memory while decoding"
    except Exception as exc:  # a decoder bug must not stop a library scan
        return path, None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip(": ")


# Many files, and one outside the library -------------------------------------------------------


def _context():
    """Workers come from a fork server (a fresh, single-threaded process that has imported this
    module once), never from a plain fork of the caller: forking a process that already runs ONNX,
    torch or OpenMP threads can leave a child stuck on a lock held by a thread that did not follow
    (seen in the test suite: a pool worker that never exited)."""
    # A killed run's semaphores are removed by multiprocessing's resource tracker; its warning about
    # them would be the only thing on the terminal after a kill (the tracker takes -W from us).
    quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
    if quiet not in sys.warnoptions:
        sys.warnoptions.append(quiet)
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # The fork server ignores SIGTERM as it already ignores Ctrl-C (it exits with the run anyway).
        ctx.set_forkserver_preload([__name__, "musictext.audio.forkserver_signals"])
        return ctx
    return mp.get_context("spawn")


def analyse_all(
    bundle: Bundle,
    providers: tuple[str, ...],
    budget: int | None,
    paths: list[str],
    jobs: int | None,
    mood_model=None,
) -> Iterator[tuple[str, TrackFeatures | None, str | None]]:
    """Analyse files in worker processes (one single-threaded session each), or in-process;
    ``mood_model`` (audio/mood.MoodModel) adds the mood axes."""
    jobs = jobs or os.cpu_count() or 1
    jobs = max(1, min(jobs, len(paths)))
    if jobs == 1:
        worker_init(bundle, providers, worker_count(), budget, mood_model=mood_model)
        for p in paths:
            yield worker_analyse(p)
        return
    pool = _context().Pool(
        jobs, initializer=worker_init, initargs=(bundle, providers, 1, budget, os.getpid(), mood_model)
    )
    try:
        yield from pool.imap_unordered(worker_analyse, paths, chunksize=1)
    except BaseException:  # Ctrl-C, SIGTERM, or the caller stopped early: stop the workers now
        _stop_now(pool)
        raise
    # All done: let the workers exit on their own (terminate() could wait forever on a queue lock
    # held by a worker it has just killed).
    # A worker that does not exit within a few seconds (seen once: stuck at exit) is killed.
    pool.close()
    deadline = time.monotonic() + 10
    for worker in list(getattr(pool, "_pool", ())):
        worker.join(max(0.0, deadline - time.monotonic()))
    if any(w.is_alive() for w in getattr(pool, "_pool", ())):
        for worker in pool._pool:
            if worker.is_alive():
                worker.kill()
    pool.join()


def _stop_now(pool) -> None:
    """Kill a pool's workers at once and drop the pool. ``Pool.terminate()`` first takes the task
    queue's lock, and a worker that died holding it (a SIGTERM to the whole process group reaches
    the workers too, and an idle worker waits for its next task holding that lock) leaves it taken
    for good: the run hung until killed (seen in the test suite, test_sigterm_of_index_is_quiet).
    So: no more replacement workers, SIGKILL each one, join them, and cancel the pool's own exit
    hook, which would call ``terminate()`` and wait on that lock at interpreter exit."""
    from multiprocessing import pool as mp_pool

    handler = getattr(pool, "_worker_handler", None)
    if handler is not None:
        handler._state = mp_pool.TERMINATE  # the handler thread would replace the workers killed below
    pool._state = mp_pool.TERMINATE
    for _ in range(2):  # again, for a replacement started while the handler was mid-round
        workers = list(getattr(pool, "_pool", ()))
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        for worker in workers:
            worker.join(5)
    finalizer = getattr(pool, "_terminate", None)
    if finalizer is not None and hasattr(finalizer, "cancel"):
        finalizer.cancel()


def analyse_one(path: str, bundle: Bundle, budget: int | None) -> TrackFeatures:
    """Features of one file outside the library (``similar`` and playlist seeds)."""
    from musictext.model.runtime import choose_device

    tower = AudioTower(bundle, choose_device("auto").providers, threads=worker_count())
    try:
        return analyse(path, tower, budget)
    except MusictextError:
        raise
    except Exception as exc:
        raise MusictextError(f"cannot analyse ({exc})", path) from exc
