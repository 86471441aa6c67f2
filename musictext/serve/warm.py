"""One warm ``Library`` (space, text tower, concept matcher), owned by one worker thread.

SQLite connections belong to the thread that made them, and the read model is not meant to be
shared between threads, so every piece of library work runs on a single worker: requests queue
for it (at most ``MAX_PENDING``; more get "busy"), while the event loop keeps serving audio and
the page. Before each job the worker checks the store: a new generation (an ``index`` run
finished) or a different database file (the store was rebuilt) reopens the library; a library
that cannot be opened yet (no store, empty) is retried on the next request, never cached.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from musictext.errors import LibraryBusyError

MAX_PENDING = 64  # queued library jobs; beyond that a request is told the server is busy


class WarmLibrary:
    def __init__(self, model: str | None = None):
        self.model = model
        self._lib = None
        self._stamp: tuple | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="musictext-library")
        self._pending = 0
        self._count_lock = threading.Lock()
        self.reloads = 0  # how many times the library was (re)opened: status shows it

    # runs on the worker thread --------------------------------------------------------------
    def _store_stamp(self) -> tuple:
        """What identifies the store's current content: the database file and the model's generation."""
        from musictext.config import db_path

        path = db_path()
        try:
            st = os.stat(path)
        except OSError:
            return ("missing",)
        generation = None
        if self._lib is not None:
            try:
                generation = self._lib.store.generation(self._lib.bundle.model_id)
            except Exception:  # the old connection points at a removed file: reopen
                generation = None
        return (st.st_dev, st.st_ino, generation)

    def current(self):
        """The open library, reopened first when the store changed under it."""
        from musictext.library.view import Library

        stamp = self._store_stamp()
        if self._lib is not None and stamp == self._stamp and stamp[-1] is not None:
            return self._lib
        if self._lib is not None:
            self._lib.close()
            self._lib = None
        lib = Library(self.model)  # raises NotFoundError for a missing or empty library
        self._lib = lib
        self._stamp = self._store_stamp()
        self.reloads += 1
        lib.serial = self.reloads  # what caches of this library (a media server's id map) compare
        return lib

    # called from the event loop -------------------------------------------------------------
    async def run(self, job: Callable[[Any], Any]) -> Any:
        """``job(library)`` on the worker thread, with the library current."""
        with self._count_lock:
            if self._pending >= MAX_PENDING:
                raise LibraryBusyError(f"too many requests waiting ({MAX_PENDING}): try again shortly")
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, lambda: job(self.current()))
        finally:
            with self._count_lock:
                self._pending -= 1

    async def call(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on the worker thread, without a library (status, matching a media server)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn)

    def close(self) -> None:
        def shut():
            if self._lib is not None:
                self._lib.close()
                self._lib = None

        try:
            self._pool.submit(shut).result(timeout=10)
        except Exception:
            pass
        self._pool.shutdown(wait=False)
