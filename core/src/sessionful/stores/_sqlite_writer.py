"""SQLite's writer thread and group commit: one thread owns one connection, so the event loop
never blocks on disk.

A call queues a job (a function of the connection and its arguments) and awaits one future,
which the thread settles with one ``call_soon_threadsafe``. Batchable jobs (fenced turn writes)
that are waiting when the thread takes one are committed together, in one transaction and one
fsync (group commit), each in its own savepoint so that one refused write does not take the
others with it; a job alone in its batch runs in a plain transaction (:func:`transaction`). A
write that finds the file locked by another process waits (``busy_timeout``) and is retried
with backoff for ``lock_retry`` seconds before ``StoreUnavailable``, so "database is locked"
never reaches a caller.
"""

from __future__ import annotations

import asyncio
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sessionful.errors import StoreUnavailable

__all__ = ["Connection", "Fence", "Writer", "retry", "transaction"]

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
        # Not contextlib.suppress: this runs once a turn, between the commit and the wait
        # for the next job, while the woken event loop waits for the GIL.
        try:  # noqa: SIM105
            self.loop.call_soon_threadsafe(_settle, self.future, result, error)
        except RuntimeError:  # a closed loop: nobody is waiting any more
            pass


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Fence:
    """The leases this connection wrote, and whether they are still the file's.

    The writer thread notes every lease it claims or advances (:attr:`known`, key -> epoch and
    owner) and, inside every write transaction, the connection's ``PRAGMA data_version``, which
    changes only when *another* connection commits. While it has not changed since the last
    write transaction began (under the write lock), nobody else has written the file since, so
    what :attr:`known` says is what the file says, and :meth:`current` answers a lease check
    without reading a row. When it has changed, :attr:`known` is dropped and the caller reads.
    """

    __slots__ = ("_pending", "busy", "known", "stamp")

    def __init__(self) -> None:
        self.known: dict[str, tuple[int, str]] = {}
        self.stamp: int | None = None
        self._pending: int | None = None
        self.busy = threading.Lock()
        """Held by the writer thread while it uses the connection."""

    # on the writer thread, inside a write transaction

    def begin(self, conn: sqlite3.Connection) -> None:
        """Right after ``BEGIN IMMEDIATE``: forget everything if another connection wrote."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self.stamp:
            self.known.clear()
            self.stamp = None
        self._pending = version

    def committed(self) -> None:
        self.stamp = self._pending

    def aborted(self) -> None:
        self.known.clear()
        self.stamp = None

    # on the event loop

    def current(self, conn: sqlite3.Connection, key: str, epoch: int, owner: str) -> bool:
        """True if ``(epoch, owner)`` is surely ``key``'s lease now; False if it cannot tell
        (the writer is busy, the lease is not known, or another connection wrote since)."""
        if not self.busy.acquire(blocking=False):
            return False
        try:
            if self.stamp is None or self.known.get(key) != (epoch, owner):
                return False
            return bool(conn.execute("PRAGMA data_version").fetchone()[0] == self.stamp)
        finally:
            self.busy.release()


class Connection(sqlite3.Connection):
    """The writer's connection, carrying its :class:`Fence`."""

    fence: Fence


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


def transaction(conn: Connection, body: Callable[[], T], seconds: float, where: str) -> T:
    """``body()`` in one immediate transaction, retried while the file is locked."""
    fence = conn.fence

    def attempt() -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            fence.begin(conn)
            result = body()
            conn.execute("COMMIT")
        except BaseException:
            fence.aborted()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        fence.committed()
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
        connect: Callable[[], Connection],
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
        busy = conn.fence.busy
        try:
            carried: _Job | object | None = None
            while True:
                job = carried if carried is not None else jobs.get()
                carried = None
                if not isinstance(job, _Job):
                    return  # _STOP
                if not job.batchable:
                    with busy:  # settled after: a woken caller finds the connection free
                        settle = self._one(conn, job)
                    settle()
                    continue
                batch = [job]
                # Group commit: take every write already waiting. This thread is the queue's
                # only reader, so a queue that is not empty has a job for get_nowait (and the
                # common empty queue raises no queue.Empty).
                while not jobs.empty():
                    nxt = jobs.get_nowait()
                    if isinstance(nxt, _Job) and nxt.batchable:
                        batch.append(nxt)
                    else:
                        carried = nxt
                        break
                if len(batch) == 1:  # the common case, one turn at a time: no savepoint
                    with busy:
                        error = self._alone(conn, job)
                    job.resolve(error=error)
                    continue
                with busy:
                    settle = self._batch(conn, batch)
                settle()
        finally:
            conn.close()

    @staticmethod
    def _one(conn: Connection, job: _Job) -> Callable[[], None]:
        """Run ``job``; return what settles its future."""
        try:
            result = job.fn(conn, *job.args)
        except BaseException as exc:
            error = exc
            return lambda: job.resolve(error=error)
        return lambda: job.resolve(result)

    def _alone(self, conn: Connection, job: _Job) -> BaseException | None:
        """Commit one batchable job in a transaction of its own; what it raised, if anything."""
        try:
            transaction(conn, lambda: job.fn(conn, *job.args), self.lock_retry, self.where)
        except BaseException as exc:
            return exc
        return None

    def _batch(self, conn: Connection, batch: list[_Job]) -> Callable[[], None]:
        """Commit a batch of several jobs in one transaction, each in its own savepoint, so one
        refused or failing write does not take the others with it. Returns what settles the
        jobs' futures."""
        fence = conn.fence

        def commit_all() -> list[BaseException | None]:
            outcomes: list[BaseException | None] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                fence.begin(conn)
                for job in batch:
                    conn.execute("SAVEPOINT turn")
                    try:
                        job.fn(conn, *job.args)
                    except sqlite3.OperationalError:
                        raise  # locked or I/O: the whole batch is retried or failed
                    except Exception as exc:
                        conn.execute("ROLLBACK TO turn")
                        outcomes.append(exc)
                    else:
                        outcomes.append(None)
                    conn.execute("RELEASE turn")
                conn.execute("COMMIT")
            except BaseException:
                fence.aborted()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            fence.committed()
            return outcomes

        try:
            outcomes: list[BaseException | None] = retry(commit_all, self.lock_retry, self.where)
        except BaseException as exc:
            outcomes = [exc] * len(batch)

        def settle() -> None:
            for job, outcome in zip(batch, outcomes, strict=True):
                job.resolve(error=outcome)

        return settle
