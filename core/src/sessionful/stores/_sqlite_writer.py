"""SQLite's writer thread and group commit: one thread owns one connection, so the event loop
never blocks on disk.

A call queues a job (a function of the connection and its arguments) and awaits one future,
which the thread settles with one ``call_soon_threadsafe``. Batchable jobs (fenced turn writes)
that are waiting when the thread takes one are committed together, in one transaction and one
fsync (group commit), each in its own savepoint so that one refused write does not take the
others with it; a job alone in its batch runs in a plain transaction, without savepoints. A
write that finds the file locked by another process waits (``busy_timeout``) and is retried
with backoff for ``lock_retry`` seconds before ``StoreUnavailable``, so "database is locked"
never reaches a caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sessionful.errors import StoreUnavailable

__all__ = ["Writer", "retry", "transaction"]

T = TypeVar("T")

_STOP = object()
"""Queued after the last job: the thread closes the connection and ends."""


class _Job:
    __slots__ = ("args", "batchable", "fn", "future", "loop")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
        batchable: bool,
    ) -> None:
        self.fn = fn
        self.args = args
        self.future = future
        self.loop = loop
        self.batchable = batchable

    def resolve(self, result: Any = None, error: BaseException | None = None) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self.loop.call_soon_threadsafe(_settle, self.future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def retry(action: Callable[[], T], seconds: float, where: str) -> T:
    """``action()``, retried with backoff while the file is locked, for ``seconds``; then
    ``StoreUnavailable``."""
    deadline = time.monotonic() + seconds
    pause = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _locked(exc):
                raise
            if time.monotonic() >= deadline:
                raise StoreUnavailable(f"{where} stayed locked for {seconds:.0f} s: {exc}") from exc
            time.sleep(pause * (1 + random.random()))
            pause = min(pause * 2, 0.25)


def transaction(conn: sqlite3.Connection, body: Callable[[], T], seconds: float, where: str) -> T:
    """``body()`` in one immediate transaction, retried while the file is locked."""

    def attempt() -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result

    return retry(attempt, seconds, where)


class Writer:
    """The thread that owns a store's connection, and its queue.

    Args:
        connect: opens (and migrates) the connection, on the thread; what it raises is raised by
            :meth:`start`.
        lock_retry: seconds a write keeps retrying a locked database.
        where: the file, for error messages.

    One writer is started once and stopped once; a store that reopens makes a new one, so a
    reopen while the old thread finishes never takes the old one's jobs.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        lock_retry: float,
        where: str,
    ) -> None:
        self._connect = connect
        self.lock_retry = lock_retry
        self.where = where
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    # -- from the event loop ------------------------------------------------------------------

    async def start(self) -> None:
        """Start the thread and wait until its connection is open; raise what opening raised."""
        connected = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(
            target=self._run, args=(connected, failure), name="sessionful-sqlite", daemon=True
        )
        thread.start()
        await asyncio.get_running_loop().run_in_executor(None, connected.wait)
        if failure:
            raise failure[0]
        self._thread = thread

    async def stop(self) -> None:
        """Finish the queued jobs, close the connection, and wait for the thread to end."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, thread.join)

    def call(self, fn: Callable[..., T], *args: Any, batchable: bool = False) -> asyncio.Future[T]:
        """Queue ``fn(conn, *args)``; the future settles with its result. A batchable ``fn``
        runs inside the group commit's transaction (it must not begin or end one)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(fn, args, future, loop, batchable))
        return future

    # -- on the thread ------------------------------------------------------------------------

    def _run(self, connected: threading.Event, failure: list[BaseException]) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            failure.append(exc)
            connected.set()
            return
        connected.set()
        jobs = self._jobs
        try:
            carried: _Job | object | None = None
            while True:
                job = carried if carried is not None else jobs.get()
                carried = None
                if not isinstance(job, _Job):
                    return  # _STOP
                if not job.batchable:
                    self._one(conn, job)
                    continue
                batch = [job]
                while True:  # group commit: take every write already waiting
                    try:
                        nxt = jobs.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(nxt, _Job) and nxt.batchable:
                        batch.append(nxt)
                    else:
                        carried = nxt
                        break
                self._batch(conn, batch)
        finally:
            conn.close()

    @staticmethod
    def _one(conn: sqlite3.Connection, job: _Job) -> None:
        try:
            result = job.fn(conn, *job.args)
        except BaseException as exc:
            job.resolve(error=exc)
        else:
            job.resolve(result)

    def _batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        """Commit a batch in one transaction; with more than one job, each in its own savepoint,
        so one refused or failing write does not take the others with it."""
        alone = len(batch) == 1

        def commit_all() -> list[BaseException | None]:
            outcomes: list[BaseException | None] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for job in batch:
                    if not alone:
                        conn.execute("SAVEPOINT turn")
                    try:
                        job.fn(conn, *job.args)
                    except sqlite3.OperationalError:
                        raise  # locked or I/O: the whole batch is retried or failed
                    except Exception as exc:
                        conn.execute("ROLLBACK" if alone else "ROLLBACK TO turn")
                        if alone:
                            return [exc]
                        outcomes.append(exc)
                    else:
                        outcomes.append(None)
                    if not alone:
                        conn.execute("RELEASE turn")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return outcomes

        try:
            outcomes = retry(commit_all, self.lock_retry, self.where)
        except BaseException as exc:
            for job in batch:
                job.resolve(error=exc)
            return
        for job, outcome in zip(batch, outcomes, strict=True):
            job.resolve(error=outcome)
