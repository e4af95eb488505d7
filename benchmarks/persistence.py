"""The persistence figures (issue 4, item 9): what the ``persisted`` strategy costs per turn
against ``per_session`` in memory, how long a 50-turn session takes to restore, and
sessionful' SQLite store side by side with the stores users would pick instead (LangGraph's
SQLite savers, the OpenAI Agents SDK's ``SQLiteSession``, Google ADK's SQLite and database
session services) on one workload, with each one's durability settings read from its own
connection and its fsyncs counted.

The peers come from the ``bench`` dependency group; a peer that is not installed is left out
with a note on the page. Postgres rows need ``SESSIONFUL_TEST_POSTGRES_DSN`` (for example
under ``scripts/with-postgres.sh``) and a store registered for ``postgresql://``; without them
they are skipped with a note.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._measure import median, ms, percentile, table, times, us, verdict
from benchmarks._runner import Context, section
from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    LifecyclePolicy,
    SessionfulError,
    SessionKey,
    SessionManager,
)
from sessionful.stores import SessionStore, SQLiteStore, TurnWrite

__all__: list[str] = []

AGENT = AgentDefinition(id="bench-agent", name="Benchmark agent", template_id="echo")
HELLO = ChatMessage.user("Hello")
POSTGRES_ENV = "SESSIONFUL_TEST_POSTGRES_DSN"

TARGET_RATIO = 0.5
"""sessionful' time per turn at most this fraction of the fastest durable peer's."""
FLOOR_RATIO = 1.5
"""sessionful' turn, one at a time, at most this many times a bare commit of the same rows."""
FLAT_FACTOR = 1.5
"""'Flat': a turn at the longest history costs at most this many times one at the shortest."""
HISTORY_LENGTHS = (10, 100, 1000)
"""Messages already in the session when its turns are timed."""
CONCURRENT_SESSIONS = 16
CONCURRENT_HISTORY = 10
RESTORE_TURNS = 50

PAUSE_MAX = 0.008
"""Seconds: each timed turn starts after an untimed random pause of up to this long (see
:func:`_pause`)."""

USER_CHARS, ASSISTANT_CHARS = 200, 600
_FILLER = "The quick brown fox jumps over the lazy dog, then naps in the afternoon sun. " * 12
APP, USER = "bench", "bench-user"
_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _user_text(turn: int) -> str:
    return f"user, turn {turn}: {_FILLER}"[:USER_CHARS]


def _assistant_text(turn: int) -> str:
    return f"assistant, turn {turn}: {_FILLER}"[:ASSISTANT_CHARS]


def _command(session_id: str) -> ExecuteAgentCommand:
    return ExecuteAgentCommand(agent_id=AGENT.id, session_id=session_id, messages=[HELLO])


def _manager(strategy: str, store: str | SessionStore | None = None) -> SessionManager:
    return SessionManager(
        framework="stub",
        strategy=strategy,
        # No capacity limit, no idle expiry, no background sweeper: the benchmark decides.
        lifecycle=LifecyclePolicy(idle_timeout=None, max_active=None, sweep_interval=None),
        agents=[AGENT],
        store=store,
    )


def _work_dir() -> Path:
    """Where the timed databases live: a disk, not tmpfs (fsync must cost what it costs)."""
    base = Path("/var/tmp")
    return Path(tempfile.mkdtemp(prefix="sessionful-bench-", dir=base if base.is_dir() else None))


def _scratch_dir() -> Path | None:
    """A tmpfs folder for filling databases before the timing (fsync is free there), or None."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="sessionful-fill-", dir=shm))
    return None


def _filesystem(path: Path) -> str:
    """The filesystem type and device ``path`` lives on, from /proc/mounts."""
    best, found = "", "unknown filesystem"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, kind, *_ = line.split()
            if str(path).startswith(mount) and len(mount) > len(best):
                best, found = mount, f"{kind} on {device}"
    return found


def _postgres() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


async def _pause(rng: random.Random) -> None:
    """An untimed random pause before a timed turn. A turn in real use starts after a model
    call, at a random moment. Virtual disks may complete fsyncs on a cadence of their own
    (:func:`_disk_cadence` looks): then an fsync issued right after another returned waits a
    whole period and one issued after some work waits less, and, without the pause, the order
    in which the stores take their turns would decide their figures."""
    await asyncio.sleep(rng.uniform(0.0, PAUSE_MAX))


def _disk_cadence(directory: Path, n: int = 40) -> tuple[float, float]:
    """Median ns of a 4 KiB overwrite plus ``fdatasync`` issued right after the previous one
    returned, and after a random pause (of up to ``PAUSE_MAX``): how the disk under
    ``directory`` schedules flushes."""
    rng = random.Random(7)
    path = directory / "cadence.probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, b"\0" * 4096 * 16, 0)
        os.fsync(fd)
        back_to_back: list[int] = []
        paused: list[int] = []
        for i in range(2 * n):
            if i % 2:
                time.sleep(rng.uniform(0.0, PAUSE_MAX))
            os.pwrite(fd, bytes([i % 256]) * 4096, (i % 16) * 4096)
            t0 = time.perf_counter_ns()
            os.fdatasync(fd)
            (paused if i % 2 else back_to_back).append(time.perf_counter_ns() - t0)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return median(back_to_back), median(paused)


# -- counting fsyncs ---------------------------------------------------------------------------


class _FsyncCounter:
    """Counts ``fsync``/``fdatasync`` calls of this whole process (every thread, and threads
    started meanwhile) by attaching ``strace -f -c`` to it. Used in an untimed pass only: the
    tracing slows every system call. ``count`` is None when strace is missing or cannot attach."""

    def __init__(self) -> None:
        self.count: int | None = None
        self.problem: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._out = ""

    def start(self) -> None:
        strace = shutil.which("strace")
        if strace is None:
            self.problem = "strace is not installed"
            return
        fd, self._out = tempfile.mkstemp(prefix="sessionful-strace-")
        os.close(fd)
        command = [strace, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", self._out]
        self._proc = subprocess.Popen(
            [*command, "-p", str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stderr is not None
        first = self._proc.stderr.readline()  # "strace: Process N attached", or why not
        if "attached" not in first:
            self._proc.wait()
            self.problem = f"strace could not attach: {first.strip()}"
            self._proc = None
            return
        time.sleep(0.3)  # the other threads of the process are attached just after

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.problem = "strace did not stop"
            return
        calls = 0
        for line in Path(self._out).read_text().splitlines():
            words = line.split()
            if words and words[-1] in ("fsync", "fdatasync") and len(words) >= 5:
                calls += int(words[3])
        Path(self._out).unlink(missing_ok=True)
        self.count = calls


# -- the peers of section 3 ----------------------------------------------------------------------


class _Peer:
    """One store on the common workload. A turn loads the session's history (however the store
    does it), builds a user and an assistant message in the store's own types and appends
    them. ``counts[sid]`` is the number of turns the session has (prefill included)."""

    label = ""
    slug = ""
    calls = ""
    """The calls one turn makes, for the page."""
    ours = False
    reference = False
    """Not a store users pick: a floor to read the others against."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.problem: str | None = None
        self.threads: ThreadPoolExecutor | None = None
        """Set while turns run concurrently, for a peer whose API blocks."""

    def check_installed(self) -> None:
        """Import what the peer needs; raise ImportError when it cannot."""

    async def open(self, directory: Path) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def create(self, sid: str, messages: int) -> None:
        """A new session holding ``messages`` messages (a user and an assistant one per turn)."""
        raise NotImplementedError

    async def turn(self, sid: str) -> None:
        raise NotImplementedError

    async def stored(self, sid: str) -> int:
        """How many messages the store holds for ``sid`` (a sanity check after the timing)."""
        raise NotImplementedError

    async def pragmas(self) -> tuple[str, str]:
        """``(journal_mode, synchronous)`` as read on a connection the store writes with."""
        raise NotImplementedError

    def connections(self) -> str:
        raise NotImplementedError

    def _next(self, sid: str) -> int:
        return self.counts.get(sid, 0) + 1


def _pragmas_of(conn: sqlite3.Connection) -> tuple[str, str]:
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    return str(journal).upper(), _SYNCHRONOUS.get(int(sync), str(sync))


async def _aiosqlite_pragmas(conn: Any) -> tuple[str, str]:
    found = []
    for pragma in ("journal_mode", "synchronous"):
        async with conn.execute(f"PRAGMA {pragma}") as cursor:
            row = await cursor.fetchone()
            found.append("?" if row is None else row[0])
    journal, sync = found
    return str(journal).upper(), _SYNCHRONOUS.get(int(sync), str(sync))


class _Sessionful(_Peer):
    """sessionful' ``SQLiteStore`` through the store API: claimed once, as the ``persisted``
    strategy does when it loads a session, then per turn either the epoch check the manager runs
    before a turn (the history lives in the session's instance) or a full ``history()`` read;
    then ``append_turn``."""

    ours = True

    def __init__(self, load_history: bool) -> None:
        super().__init__()
        self.load_history = load_history
        if load_history:
            self.label = "sessionful `SQLiteStore`, history read every turn"
            self.slug = "sessionful-history"
            self.calls = "`history(key)`, `append_turn(lease, TurnWrite(...))`"
        else:
            self.label = "**sessionful `SQLiteStore`** (the `persisted` path)"
            self.slug = "sessionful"
            self.calls = "`check(lease)`, `append_turn(lease, TurnWrite(...))`"
        self.store: SQLiteStore | None = None
        self.leases: dict[str, Any] = {}

    async def open(self, directory: Path) -> None:
        self.store = SQLiteStore(directory / "sessions.db")
        await self.store.open()
        self.leases = {}
        for sid in list(self.counts):
            await self._claim(sid)

    async def _claim(self, sid: str) -> None:
        assert self.store is not None
        key = SessionKey(AGENT.id, sid)
        lease, loaded = await self.store.claim(
            key, "bench", AGENT.template_id, AGENT.template_version, time.time()
        )
        self.leases[sid] = lease
        self.counts[sid] = loaded.record.turn_count if loaded is not None else 0

    async def close(self) -> None:
        if self.store is not None:
            await self.store.aclose()
            self.store = None

    async def create(self, sid: str, messages: int) -> None:
        await self._claim(sid)
        for _ in range(messages // 2):
            await self._append(sid)

    async def _append(self, sid: str) -> None:
        assert self.store is not None
        n = self._next(sid)
        messages = (ChatMessage.user(_user_text(n)), ChatMessage.assistant(_assistant_text(n)))
        await self.store.append_turn(self.leases[sid], TurnWrite(n, messages, time.time(), 0.0))
        self.counts[sid] = n

    async def turn(self, sid: str) -> None:
        assert self.store is not None
        if self.load_history:
            await self.store.history(self.leases[sid].key)
        else:
            await self.store.check(self.leases[sid])
        await self._append(sid)

    async def stored(self, sid: str) -> int:
        assert self.store is not None
        return len(await self.store.history(SessionKey(AGENT.id, sid)))

    async def pragmas(self) -> tuple[str, str]:
        assert self.store is not None
        # The writer thread's own connection (the store has no other).
        return await self.store._call(_pragmas_of)

    def connections(self) -> str:
        return "1, owned by the store's writer thread; turns in flight share its commits"


def _langgraph_step(
    sid: str, previous: Any, added: Sequence[Any], saver: Any
) -> tuple[Any, Any, Any, Any]:
    """``put``'s arguments for the checkpoint after ``previous`` with ``added`` messages: what a
    graph with a ``messages`` channel writes at the end of a turn."""
    from langgraph.checkpoint.base import create_checkpoint, empty_checkpoint

    if previous is None:
        base = empty_checkpoint()
        messages: list[Any] = []
        config: dict[str, Any] = {"configurable": {"thread_id": sid, "checkpoint_ns": ""}}
        step = -1
    else:
        base = previous.checkpoint
        messages = base["channel_values"]["messages"]
        config = previous.config
        step = int(previous.metadata.get("step", 0))
    version = saver.get_next_version(base["channel_versions"].get("messages"), None)
    checkpoint = create_checkpoint(
        {**base, "channel_values": {"messages": [*messages, *added]}}, None, step + 1
    )
    checkpoint["channel_versions"] = {**checkpoint["channel_versions"], "messages": version}
    metadata = {"source": "loop", "step": step + 1, "parents": {}}
    return config, checkpoint, metadata, {"messages": version}


def _langchain_pair(turn: int) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage

    return [
        HumanMessage(content=_user_text(turn), id=str(uuid.uuid4())),
        AIMessage(content=_assistant_text(turn), id=str(uuid.uuid4())),
    ]


def _thread(sid: str) -> Any:
    return {"configurable": {"thread_id": sid, "checkpoint_ns": ""}}


class _LangGraphSync(_Peer):
    """LangGraph's ``SqliteSaver`` used directly: the latest checkpoint of the thread is read
    (it holds the whole message list) and the next one, with the two new messages, is put."""

    label = "LangGraph `SqliteSaver`"
    slug = "langgraph-sync"
    calls = "`get_tuple(config)`, `put(config, checkpoint, metadata, versions)`"

    def check_installed(self) -> None:
        import langchain_core.messages  # noqa: F401
        import langgraph.checkpoint.sqlite  # noqa: F401

    async def open(self, directory: Path) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        self.conn = sqlite3.connect(directory / "checkpoints.db", check_same_thread=False)
        self.saver = SqliteSaver(self.conn)
        self.saver.setup()

    async def close(self) -> None:
        self.conn.close()

    def _put(self, sid: str, added: Sequence[Any]) -> None:
        previous = self.saver.get_tuple(_thread(sid))
        self.saver.put(*_langgraph_step(sid, previous, added, self.saver))

    async def create(self, sid: str, messages: int) -> None:
        pairs = [m for n in range(1, messages // 2 + 1) for m in _langchain_pair(n)]
        self._put(sid, pairs)
        self.counts[sid] = messages // 2

    def _turn(self, sid: str) -> None:
        n = self._next(sid)
        self._put(sid, _langchain_pair(n))
        self.counts[sid] = n

    async def turn(self, sid: str) -> None:
        if self.threads is None:
            self._turn(sid)  # a sync saver, called as sync code calls it
        else:
            await asyncio.get_running_loop().run_in_executor(self.threads, self._turn, sid)

    async def stored(self, sid: str) -> int:
        found = self.saver.get_tuple(_thread(sid))
        return 0 if found is None else len(found.checkpoint["channel_values"]["messages"])

    async def pragmas(self) -> tuple[str, str]:
        return _pragmas_of(self.conn)

    def connections(self) -> str:
        return "1 (`sqlite3.connect`, passed in), behind the saver's lock"


class _LangGraphAsync(_Peer):
    """LangGraph's ``AsyncSqliteSaver`` used directly, like :class:`_LangGraphSync`."""

    label = "LangGraph `AsyncSqliteSaver`"
    slug = "langgraph-async"
    calls = "`aget_tuple(config)`, `aput(config, checkpoint, metadata, versions)`"

    def check_installed(self) -> None:
        import aiosqlite  # noqa: F401
        import langchain_core.messages  # noqa: F401
        import langgraph.checkpoint.sqlite.aio  # noqa: F401

    async def open(self, directory: Path) -> None:
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        self.conn = await aiosqlite.connect(directory / "checkpoints.db")
        self.saver = AsyncSqliteSaver(self.conn)
        await self.saver.setup()

    async def close(self) -> None:
        await self.conn.close()

    async def _put(self, sid: str, added: Sequence[Any]) -> None:
        previous = await self.saver.aget_tuple(_thread(sid))
        await self.saver.aput(*_langgraph_step(sid, previous, added, self.saver))

    async def create(self, sid: str, messages: int) -> None:
        pairs = [m for n in range(1, messages // 2 + 1) for m in _langchain_pair(n)]
        await self._put(sid, pairs)
        self.counts[sid] = messages // 2

    async def turn(self, sid: str) -> None:
        n = self._next(sid)
        await self._put(sid, _langchain_pair(n))
        self.counts[sid] = n

    async def stored(self, sid: str) -> int:
        found = await self.saver.aget_tuple(_thread(sid))
        return 0 if found is None else len(found.checkpoint["channel_values"]["messages"])

    async def pragmas(self) -> tuple[str, str]:
        return await _aiosqlite_pragmas(self.conn)

    def connections(self) -> str:
        return "1 (`aiosqlite.connect`, passed in), behind the saver's lock"


def _openai_pair(turn: int) -> list[Any]:
    return [
        {"role": "user", "content": _user_text(turn)},
        {"role": "assistant", "content": _assistant_text(turn)},
    ]


class _OpenAI(_Peer):
    """The OpenAI Agents SDK's ``SQLiteSession`` on a file: ``get_items()`` then
    ``add_items([...])``, as its runner does around a turn. Its API is one object per session,
    each with its own connections (one per worker thread); it has no way to share one."""

    label = "OpenAI Agents SDK `SQLiteSession`"
    slug = "openai-agents"
    calls = "`get_items()`, `add_items([user, assistant])`"

    def check_installed(self) -> None:
        from agents import SQLiteSession  # noqa: F401

    async def open(self, directory: Path) -> None:
        from agents import SQLiteSession

        self.path = directory / "openai.db"
        self.sessions: dict[str, Any] = {sid: SQLiteSession(sid, self.path) for sid in self.counts}
        self._class = SQLiteSession

    def _session(self, sid: str) -> Any:
        found = self.sessions.get(sid)
        if found is None:
            found = self.sessions[sid] = self._class(sid, self.path)
        return found

    async def close(self) -> None:
        for session in self.sessions.values():
            close = getattr(session, "close", None)  # older releases have none
            if close is not None:
                close()
        self.sessions = {}

    async def create(self, sid: str, messages: int) -> None:
        items = [item for n in range(1, messages // 2 + 1) for item in _openai_pair(n)]
        await self._session(sid).add_items(items)
        self.counts[sid] = messages // 2

    async def turn(self, sid: str) -> None:
        session = self._session(sid)
        await session.get_items()
        n = self._next(sid)
        await session.add_items(_openai_pair(n))
        self.counts[sid] = n

    async def stored(self, sid: str) -> int:
        return len(await self._session(sid).get_items())

    async def pragmas(self) -> tuple[str, str]:
        session = next(iter(self.sessions.values()))

        def read() -> tuple[str, str]:
            with session._locked_connection() as conn:  # the connection its calls use
                return _pragmas_of(conn)

        return await asyncio.to_thread(read)

    def connections(self) -> str:
        opened = sum(len(getattr(s, "_connections", ())) for s in self.sessions.values())
        return (
            f"one per session object per worker thread ({opened or 'n/a'} open for "
            f"{len(self.sessions)} sessions); its API has no shared connection"
        )


def _adk_event(author: str, role: str, text: str, turn: int) -> Any:
    from google.adk.events import Event
    from google.genai import types

    return Event(
        invocation_id=f"turn-{turn}",
        author=author,
        content=types.Content(role=role, parts=[types.Part(text=text)]),
    )


class _Adk(_Peer):
    """Google ADK's session services, as its runner uses them around a turn: ``get_session``
    (the session with all its events), then ``append_event`` for the user's message and for the
    agent's reply."""

    calls = "`get_session(...)`, `append_event(user)`, `append_event(reply)`"

    def __init__(self) -> None:
        super().__init__()
        self.service: Any = None

    async def create(self, sid: str, messages: int) -> None:
        session = await self.service.create_session(app_name=APP, user_id=USER, session_id=sid)
        self.counts[sid] = 0
        for _ in range(messages // 2):
            await self._append(session, sid)

    async def _append(self, session: Any, sid: str) -> None:
        n = self._next(sid)
        await self.service.append_event(session, _adk_event("user", "user", _user_text(n), n))
        await self.service.append_event(
            session, _adk_event("bench_agent", "model", _assistant_text(n), n)
        )
        self.counts[sid] = n

    async def turn(self, sid: str) -> None:
        session = await self.service.get_session(app_name=APP, user_id=USER, session_id=sid)
        await self._append(session, sid)

    async def stored(self, sid: str) -> int:
        session = await self.service.get_session(app_name=APP, user_id=USER, session_id=sid)
        return len(session.events)

    async def close(self) -> None:
        close = getattr(self.service, "close", None)  # older releases have none
        if close is not None:
            await close()
        self.service = None


class _AdkSqlite(_Adk):
    label = "Google ADK `SqliteSessionService`"
    slug = "adk-sqlite"

    def check_installed(self) -> None:
        from google.adk.sessions.sqlite_session_service import SqliteSessionService  # noqa: F401

    async def open(self, directory: Path) -> None:
        from google.adk.sessions.sqlite_session_service import SqliteSessionService

        self.service = SqliteSessionService(str(directory / "adk.db"))

    async def pragmas(self) -> tuple[str, str]:
        async with self.service._get_db_connection() as db:  # a connection as its calls get one
            return await _aiosqlite_pragmas(db)

    def connections(self) -> str:
        return "a new `aiosqlite` connection (and thread) for every call, by its design"


class _AdkDatabase(_Adk):
    label = "Google ADK `DatabaseSessionService` (`sqlite+aiosqlite`)"
    slug = "adk-database"

    def check_installed(self) -> None:
        from google.adk.sessions import DatabaseSessionService  # noqa: F401

    async def open(self, directory: Path) -> None:
        from google.adk.sessions import DatabaseSessionService

        self.service = DatabaseSessionService(db_url=f"sqlite+aiosqlite:///{directory}/adk.db")

    async def pragmas(self) -> tuple[str, str]:
        async with self.service.db_engine.connect() as conn:  # a pooled connection
            journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            sync = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
        return str(journal).upper(), _SYNCHRONOUS.get(int(sync), str(sync))

    def connections(self) -> str:
        pool = self.service.db_engine.pool
        size = getattr(pool, "size", None)
        return f"SQLAlchemy `{type(pool).__name__}`" + (f" of {size()}" if callable(size) else "")


class _BareCommit(_Peer):
    """The floor under any durable SQLite store: the turn's two messages inserted and committed
    on one connection, WAL mode, ``synchronous=FULL``; no history read, no fencing, no
    bookkeeping."""

    label = "reference: a bare SQLite commit of the two messages"
    slug = "bare-commit"
    calls = "`BEGIN`, two `INSERT`s, `COMMIT` (no history read)"
    reference = True

    async def open(self, directory: Path) -> None:
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(
            directory / "bare.db", isolation_level=None, check_same_thread=False
        )
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS messages (sid TEXT, turn INTEGER, seq INTEGER, "
            "role TEXT, content TEXT, PRIMARY KEY (sid, turn, seq)) WITHOUT ROWID"
        )

    async def close(self) -> None:
        self.conn.close()

    def _insert(self, sid: str, turns: range) -> None:
        rows = [
            (sid, n, seq, role, text)
            for n in turns
            for seq, (role, text) in enumerate(
                (("user", _user_text(n)), ("assistant", _assistant_text(n)))
            )
        ]
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", rows)
            self.conn.execute("COMMIT")
        self.counts[sid] = turns[-1]

    async def create(self, sid: str, messages: int) -> None:
        self._insert(sid, range(1, messages // 2 + 1))

    async def turn(self, sid: str) -> None:
        n = self._next(sid)
        if self.threads is None:
            self._insert(sid, range(n, n + 1))
        else:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self.threads, self._insert, sid, range(n, n + 1))

    async def stored(self, sid: str) -> int:
        with self.lock:
            row = self.conn.execute("SELECT count(*) FROM messages WHERE sid = ?", (sid,))
            return int(row.fetchone()[0])

    async def pragmas(self) -> tuple[str, str]:
        with self.lock:
            return _pragmas_of(self.conn)

    def connections(self) -> str:
        return "1"


def _peers() -> list[_Peer]:
    return [
        _BareCommit(),
        _Sessionful(load_history=False),
        _Sessionful(load_history=True),
        _LangGraphSync(),
        _LangGraphAsync(),
        _OpenAI(),
        _AdkSqlite(),
        _AdkDatabase(),
    ]


async def _open_filled(
    peer: _Peer, target: Path, scratch: Path | None, fill: dict[str, int]
) -> None:
    """Open ``peer`` on ``target`` with the sessions of ``fill`` (id -> messages) in it. They are
    written on tmpfs when there is one (their fsyncs are not what is measured) and the files
    copied to ``target``, flushed to disk, before the store is opened there."""
    target.mkdir(parents=True, exist_ok=True)
    if scratch is None:
        await peer.open(target)
        for sid, messages in fill.items():
            await peer.create(sid, messages)
        return
    where = scratch / peer.slug
    where.mkdir(parents=True, exist_ok=True)
    await peer.open(where)
    for sid, messages in fill.items():
        await peer.create(sid, messages)
    await peer.close()
    for path in where.iterdir():
        if path.name.endswith("-shm"):
            continue  # rebuilt from the WAL on open
        shutil.copyfile(path, target / path.name)
        with open(target / path.name, "rb") as copied:
            os.fsync(copied.fileno())
    directory = os.open(target, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    shutil.rmtree(where, ignore_errors=True)
    await peer.open(target)


# -- section 1: the per-turn cost of persisted -------------------------------------------------


@dataclass
class _Config:
    label: str
    manager: SessionManager | None
    note: str = ""
    sequential: list[int] = field(default_factory=list)
    concurrent: list[float] = field(default_factory=list)
    """Per round: wall nanoseconds per turn with all sessions in flight."""

    @property
    def median(self) -> float:
        return median(self.sequential)

    @property
    def wall(self) -> float:
        return sum(self.concurrent) / len(self.concurrent)


def _postgres_durability(dsn: str) -> str:
    """The server's durability settings, as a connection to it reads them."""
    try:
        import psycopg

        found: dict[str, str] = {}
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            for name in ("fsync", "synchronous_commit", "wal_sync_method"):
                row = conn.execute(f"SHOW {name}").fetchone()
                found[name] = "?" if row is None else str(row[0])
    except Exception as exc:
        return f"the server's settings could not be read ({type(exc).__name__})"
    return ", ".join(f"`{name}={value}`" for name, value in found.items())


async def _try_postgres_manager() -> tuple[SessionManager | None, str]:
    dsn = _postgres()
    if dsn is None:
        return None, f"skipped: `{POSTGRES_ENV}` is not set (run under `scripts/with-postgres.sh`)"
    try:
        manager = _manager("persisted", store=dsn)
        assert manager.store is not None
        await manager.store.open()
    except (SessionfulError, ImportError, OSError) as exc:
        return None, f"skipped: no usable Postgres store here ({type(exc).__name__}: {exc})"
    return manager, ""


@section("persistence.turn", "Per-turn cost of `persisted` (SQLite, Postgres) vs `per_session`")
def turn_cost(ctx: Context) -> str:
    rounds, per_round = (3, 10) if ctx.quick else (10, 30)
    c_rounds, c_turns = (2, 4) if ctx.quick else (8, 5)
    directory = _work_dir()
    run_id = uuid.uuid4().hex[:8]
    rng = random.Random(1)

    async def run() -> list[_Config]:
        pg_manager, pg_note = await _try_postgres_manager()
        configs = [
            _Config("`per_session`, in memory", _manager("per_session")),
            _Config(
                "`persisted`, SQLite, `synchronous=FULL` (the default)",
                _manager("persisted", SQLiteStore(directory / "full.db")),
            ),
            _Config(
                "`persisted`, SQLite, `synchronous=NORMAL`",
                _manager("persisted", SQLiteStore(directory / "normal.db", synchronous="NORMAL")),
            ),
            _Config("`persisted`, Postgres", pg_manager, pg_note),
        ]
        live = [c for c in configs if c.manager is not None]
        sid = f"turn-{run_id}"
        for config in live:  # the first turns create the session and warm everything up
            assert config.manager is not None
            for _ in range(3):
                await config.manager.execute(_command(sid))
        bar = ctx.progress("one session, rounds", rounds)
        clock = time.perf_counter_ns
        command = _command(sid)
        for r in range(rounds):
            for _ in range(per_round):  # turn by turn, in a shuffled order, after a pause
                order = live[:]
                rng.shuffle(order)
                for config in order:
                    assert config.manager is not None
                    await _pause(rng)
                    t0 = clock()
                    await config.manager.execute(command)
                    config.sequential.append(clock() - t0)
            bar.update(r + 1)
        bar.close()
        bar = ctx.progress(f"{CONCURRENT_SESSIONS} sessions at once, rounds", c_rounds)
        for r in range(c_rounds):
            order = live[:]
            rng.shuffle(order)
            for config in order:
                manager = config.manager
                assert manager is not None
                sids = [f"many-{run_id}-{r}-{i}" for i in range(CONCURRENT_SESSIONS)]
                await asyncio.gather(*(manager.execute(_command(s)) for s in sids))

                async def loop(s: str, manager: SessionManager = manager) -> None:
                    for _ in range(c_turns):
                        await manager.execute(_command(s))

                t0 = clock()
                await asyncio.gather(*(loop(s) for s in sids))
                config.concurrent.append((clock() - t0) / (c_turns * len(sids)))
            bar.update(r + 1)
        bar.close()
        for config in live:
            assert config.manager is not None
            if config.manager.store is not None and "Postgres" in config.label:
                for key in config.manager.list_agents():  # leave the shared database as found
                    await config.manager.end_session(key.agent_id, key.session_id)
            await config.manager.aclose()
        return configs

    try:
        configs = asyncio.run(run())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    base = configs[0]
    rows = []
    for c in configs:
        if c.manager is None:
            rows.append((c.label, c.note, "", "", "", "", ""))
            continue
        rows.append(
            (
                c.label,
                f"{len(c.sequential):,}",
                us(c.median),
                us(percentile(c.sequential, 95)),
                times(c.median / base.median),
                us(c.wall),
                times(c.wall / base.wall),
            )
        )
    numbers = table(
        [
            "strategy, store",
            "turns",
            "median",
            "p95",
            "vs `per_session`",
            f"{CONCURRENT_SESSIONS} sessions at once: wall per turn",
            "vs `per_session`",
        ],
        rows,
    )
    full, normal = configs[1], configs[2]
    dsn = _postgres()
    pg_settings = "not run"
    if configs[3].manager is not None and dsn is not None:
        pg_settings = _postgres_durability(dsn)
    return f"""## Per-turn cost of `persisted` vs `per_session` in memory

`await manager.execute(command)` on a live session of the stub adapter (one user message in,
one reply out), under `per_session` (nothing stored) and under `persisted`, where each turn
first checks the session's lease epoch in the store (one read) and then appends the turn's two
messages to the store's log, fenced on that epoch, before the turn is acknowledged. SQLite
stores are files on {_filesystem(directory)} (not tmpfs), in WAL mode; `FULL` fsyncs the WAL on
every commit, `NORMAL` only at checkpoints (a crash of the process loses nothing, a power loss
may lose the last commits). Postgres: {pg_settings}.

**One session**: {rounds * per_round} turns per configuration, timed one by one, interleaved
turn by turn in an order shuffled every time, each after an untimed random pause of up to
{PAUSE_MAX * 1000:g} ms (a real turn starts after a model call, at a random moment; on virtual
disks how long an fsync waits can depend on how recently the previous one completed), so that
the disk's behaviour falls on all alike.
**{CONCURRENT_SESSIONS} sessions at once**: in each of {c_rounds} rounds, {CONCURRENT_SESSIONS}
new sessions each run {c_turns} turns back to back, all in flight together; the rounds' wall time
over their turns. Turns completing while a commit is in flight are committed together (group
commit), so the fsync is shared.

{numbers}

With `synchronous=FULL` a turn on one session costs {us(full.median - base.median)} more than in
memory, and with `NORMAL` {us(normal.median - base.median)} more: the difference between the two
is the fsync, which `FULL` pays once per commit and which many sessions in flight share.
"""


# -- section 2: restore ----------------------------------------------------------------------


@dataclass
class _RestoreRow:
    label: str
    note: str = ""
    wall: dict[str, list[int]] = field(default_factory=dict)
    """Kind of turn -> wall nanoseconds; kinds: ``replayed`` (the first turn after a restart,
    restored from the log, no snapshot), ``reused``, ``evicted`` (the first turn after
    ``evict``, restored from the snapshot taken on eviction)."""
    cpu: dict[str, list[int]] = field(default_factory=dict)
    """Kind of turn -> the process's CPU nanoseconds."""


async def _fill_log(store: SessionStore, keys: Sequence[SessionKey], turns: int) -> None:
    """Sessions with ``turns`` stub turns in the log and no snapshot, as a process that was
    killed would leave them."""
    await store.open()
    for key in keys:
        lease, _ = await store.claim(
            key, "filler", AGENT.template_id, AGENT.template_version, time.time()
        )
        for n in range(1, turns + 1):
            reply = ChatMessage.assistant(f"echo #{n}: Hello")
            await store.append_turn(lease, TurnWrite(n, (HELLO, reply), time.time(), 0.0))
    await store.aclose()


async def _restore_row(
    ctx: Context, row: _RestoreRow, filler: SessionStore, store: SessionStore, n: int, run_id: str
) -> None:
    keys = [SessionKey(AGENT.id, f"restore-{run_id}-{i}") for i in range(n)]
    await _fill_log(filler, keys, RESTORE_TURNS)
    manager = _manager("persisted", store)
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    rng = random.Random(2)
    # Warm up the manager and the store on a session of its own.
    warm = f"warm-{run_id}"
    for _ in range(3):
        await manager.execute(_command(warm))
    await manager.evict(SessionKey(AGENT.id, warm))
    await manager.execute(_command(warm))
    bar = ctx.progress(f"{row.label}: sessions", n)
    for i, key in enumerate(keys):
        assert key.session_id is not None
        command = _command(key.session_id)
        for kind, event in (
            ("replayed", "restored"),
            ("reused", "reused"),
            ("evicted", "restored"),
        ):
            if kind == "evicted":
                await manager.evict(key)  # untimed; saves a snapshot of the session as it goes
            await _pause(rng)
            t0, c0 = clock(), cpu()
            result = await manager.execute(command)
            c1, t1 = cpu(), clock()
            row.wall.setdefault(kind, []).append(t1 - t0)
            row.cpu.setdefault(kind, []).append(c1 - c0)
            assert result.instance_event == event, (kind, result.instance_event)
            if kind == "replayed":  # the 50 logged turns came back, and this one was counted
                assert result.stats.turn_count == RESTORE_TURNS + 1, result.stats
        bar.update(i + 1)
    bar.close()
    if "Postgres" in row.label:
        for key in [*keys, SessionKey(AGENT.id, warm)]:
            await manager.end_session(key.agent_id, key.session_id)
    await manager.aclose()


@section("persistence.restore", "Restoring a 50-turn session")
def restore(ctx: Context) -> str:
    n = 5 if ctx.quick else 40
    directory = _work_dir()
    run_id = uuid.uuid4().hex[:8]

    async def run() -> list[_RestoreRow]:
        sqlite = _RestoreRow("SQLite, `synchronous=FULL`")
        path = directory / "restore.db"
        # Filled with NORMAL (no fsync per fill turn); timed with the default FULL.
        await _restore_row(
            ctx, sqlite, SQLiteStore(path, synchronous="NORMAL"), SQLiteStore(path), n, run_id
        )
        postgres = _RestoreRow("Postgres")
        dsn = _postgres()
        if dsn is None:
            postgres.note = f"skipped: `{POSTGRES_ENV}` is not set"
        else:
            try:
                filler = _manager("persisted", dsn).store
                store = _manager("persisted", dsn).store
                assert filler is not None and store is not None
                await _restore_row(ctx, postgres, filler, store, n, run_id)
            except (SessionfulError, ImportError, OSError) as exc:
                postgres.note = f"skipped: no usable Postgres store ({type(exc).__name__}: {exc})"
        return [sqlite, postgres]

    try:
        rows = asyncio.run(run())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    kinds = (
        ("replayed", f"restart: claim, replay {2 * RESTORE_TURNS} logged messages, turn"),
        ("evicted", "`evict`, then the next turn: claim, restore the snapshot, turn"),
        ("reused", "the turn after, on the live instance"),
    )
    lines = []
    for row in rows:
        if row.note:
            lines.append((row.label, row.note, "", "", "", "", ""))
            continue
        reused, reused_cpu = median(row.wall["reused"]), median(row.cpu["reused"])
        for kind, what in kinds:
            wall, cpu = median(row.wall[kind]), median(row.cpu[kind])
            extra = kind != "reused"
            lines.append(
                (
                    row.label,
                    what,
                    ms(wall),
                    ms(percentile(row.wall[kind], 95)),
                    ms(cpu),
                    ms(wall - reused) if extra else "",
                    ms(cpu - reused_cpu) if extra else "",
                )
            )
    numbers = table(
        [
            "store",
            f"turn ({n} sessions each)",
            "median",
            "p95",
            "CPU (median)",
            "restore's cost",
            "restore's CPU",
        ],
        lines,
        align="llrrrrr",
    )
    return f"""## Restoring a {RESTORE_TURNS}-turn session

How long the turn that brings a stored session back takes, on the stub adapter (`persisted`
strategy). Each of {n} sessions first gets {RESTORE_TURNS} turns written to the store's log, as a
process killed without a clean shutdown leaves them (no snapshot). Then, on a new manager:
**restart**: the session's next turn claims it (bumping its lease epoch, one commit), reads the
{2 * RESTORE_TURNS} logged messages, creates the instance, replays them into it, runs the turn and
appends it; **reused**: the turn after that, on the live instance; **evict, then the next turn**:
`manager.evict(key)` (untimed; it snapshots the session as it unloads it), then the turn that
restores it from that snapshot. A restore's cost is its turn's median minus the reused turn's
(wall time, and the process's CPU time, which the disk's noise does not touch). The sessions
are measured one after another, each step in the same order, each timed turn after an untimed
random pause of up to {PAUSE_MAX * 1000:g} ms, so the noise of the disk falls on all three alike.

{numbers}

A restoring turn commits twice (the claim, then the turn) where a reused turn commits once; the
rest of a restore's cost is its CPU: reading and decoding the stored session and rebuilding the
stub's instance, whose whole state is its message history.
"""


# -- section 3: side by side with the peers ------------------------------------------------------


@dataclass
class _PeerResult:
    peer: _Peer
    by_length: dict[int, list[int]] = field(default_factory=dict)
    """History length -> wall nanoseconds of each timed turn."""
    cpu_by_length: dict[int, list[int]] = field(default_factory=dict)
    """History length -> CPU nanoseconds of the whole process (all threads) in each turn."""
    fill_seconds: float = 0.0
    concurrent: list[float] = field(default_factory=list)
    latencies: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    journal: str = "?"
    synchronous: str = "?"
    fsyncs: float | None = None
    """Per turn, one turn at a time."""
    fsyncs_concurrent: float | None = None
    """Per turn, with the concurrent sessions all in flight."""
    fsync_note: str = ""
    connections: str = ""

    @property
    def durable(self) -> bool:
        return self.synchronous in ("FULL", "EXTRA") and (self.fsyncs is None or self.fsyncs > 0)

    def at(self, length: int) -> float:
        return median(self.by_length[length])

    def cpu_at(self, length: int) -> float:
        return median(self.cpu_by_length[length])

    @property
    def wall_per_turn(self) -> float:
        """Concurrent rounds: wall nanoseconds per turn over all of them."""
        return sum(self.concurrent) / len(self.concurrent)


async def _concurrently(peer: _Peer, sids: Sequence[str], turns: int, result: _PeerResult) -> float:
    """All of ``sids`` running ``turns`` turns each, in flight together; wall ns per turn."""
    clock = time.perf_counter_ns

    async def one(sid: str) -> None:
        for _ in range(turns):
            t0 = clock()
            try:
                await peer.turn(sid)
            except Exception as exc:
                result.failures.append(f"{type(exc).__name__}: {exc}")
            else:
                result.latencies.append(clock() - t0)

    t0 = clock()
    await asyncio.gather(*(one(sid) for sid in sids))
    return (clock() - t0) / (turns * len(sids))


@contextlib.asynccontextmanager
async def _threads(peer: _Peer, n: int) -> AsyncIterator[None]:
    peer.threads = ThreadPoolExecutor(n, thread_name_prefix="bench-peer")
    try:
        yield
    finally:
        peer.threads.shutdown(wait=True)
        peer.threads = None


@section("persistence.peers", "sessionful' SQLite store vs LangGraph, OpenAI Agents, ADK")
def peers(ctx: Context) -> str:
    lengths = HISTORY_LENGTHS
    rounds, per_round = (2, 3) if ctx.quick else (4, 10)
    c_rounds, c_turns = (2, 2) if ctx.quick else (8, 2)
    fsync_turns = 5 if ctx.quick else 10
    directory = _work_dir()
    scratch = _scratch_dir()
    missing: list[str] = []
    rng = random.Random(4)
    cadence = _disk_cadence(directory)

    def seq(length: int, r: int) -> str:
        # Fresh sessions each round for the short histories; the longest is shared by the
        # rounds (it grows by a few percent), which keeps filling the slowest stores short.
        return f"seq-{length}-{r if length < lengths[-1] else 0}"

    many = [f"many-{j}" for j in range(CONCURRENT_SESSIONS)]

    async def run() -> list[_PeerResult]:
        results: list[_PeerResult] = []
        for peer in _peers():
            try:
                peer.check_installed()
            except ImportError as exc:
                missing.append(f"{peer.label}: not installed ({exc})")
                continue
            results.append(_PeerResult(peer))
        try:
            fill = {"warm": 10, **dict.fromkeys(many, CONCURRENT_HISTORY)}
            fill.update({seq(n, r): n for r in range(rounds) for n in lengths})
            bar = ctx.progress("filling the stores", len(results))
            for i, result in enumerate(results):
                started = time.perf_counter()
                await _open_filled(result.peer, directory / result.peer.slug, scratch, fill)
                result.fill_seconds = time.perf_counter() - started
                for _ in range(3):
                    await result.peer.turn("warm")
                bar.update(i + 1)
            bar.close()
            wall, cpu = time.perf_counter_ns, time.process_time_ns
            # One turn at a time, interleaved turn by turn in a shuffled order: every store at every
            # length takes one turn, in a random order, then again, so that the disk's changing
            # behaviour (and the other stores' writes still in flight to it) falls on all alike.
            bar = ctx.progress("one turn at a time, rounds", rounds)
            for r in range(rounds):
                for _ in range(per_round):
                    pairs = [(result, length) for result in results for length in lengths]
                    rng.shuffle(pairs)
                    for result, length in pairs:
                        await _pause(rng)
                        t0, c0 = wall(), cpu()
                        await result.peer.turn(seq(length, r))
                        c1, t1 = cpu(), wall()
                        result.by_length.setdefault(length, []).append(t1 - t0)
                        result.cpu_by_length.setdefault(length, []).append(c1 - c0)
                bar.update(r + 1)
            bar.close()
            bar = ctx.progress(f"{CONCURRENT_SESSIONS} sessions at once, rounds", c_rounds)
            for r in range(c_rounds):
                order = results[:]
                rng.shuffle(order)
                for result in order:
                    async with _threads(result.peer, CONCURRENT_SESSIONS):
                        result.concurrent.append(
                            await _concurrently(result.peer, many, c_turns, result)
                        )
                bar.update(r + 1)
            bar.close()
            # Untimed: the durability settings, the fsyncs a turn makes, and a sanity check.
            for result in results:
                peer = result.peer
                with contextlib.suppress(Exception):
                    result.journal, result.synchronous = await peer.pragmas()
                result.connections = peer.connections()
                counter = _FsyncCounter()
                counter.start()
                try:
                    for _ in range(fsync_turns):
                        await peer.turn("warm")
                finally:
                    counter.stop()
                if counter.count is not None:
                    result.fsyncs = counter.count / fsync_turns
                    counter = _FsyncCounter()
                    async with _threads(peer, CONCURRENT_SESSIONS):
                        counter.start()
                        try:
                            await _concurrently(peer, many, c_turns, _PeerResult(peer))
                        finally:
                            counter.stop()
                    if counter.count is not None:
                        result.fsyncs_concurrent = counter.count / (len(many) * c_turns)
                result.fsync_note = counter.problem or ""
                sid = f"seq-{lengths[0]}-0"
                found = await peer.stored(sid)
                expected = 2 * peer.counts[sid]
                assert found == expected, (peer.label, sid, found, expected)
        finally:
            for result in results:
                with contextlib.suppress(Exception):  # a failed run leaves no thread behind
                    await result.peer.close()
        return results

    try:
        results = asyncio.run(run())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return _peers_page(
        results,
        missing,
        directory,
        scratch,
        (rounds, per_round, c_rounds, c_turns, fsync_turns),
        cadence,
    )


def _peers_page(
    results: list[_PeerResult],
    missing: list[str],
    directory: Path,
    scratch: Path | None,
    sizes: tuple[int, int, int, int, int],
    cadence: tuple[float, float],
) -> str:
    lengths = HISTORY_LENGTHS
    first, last = lengths[0], lengths[-1]
    rounds, per_round, c_rounds, c_turns, fsync_turns = sizes
    ours = next(r for r in results if isinstance(r.peer, _Sessionful) and not r.peer.load_history)
    durable_peers = [r for r in results if not r.peer.ours and not r.peer.reference and r.durable]

    def fsync_cell(r: _PeerResult) -> str:
        if r.fsyncs is None:
            return f"n/a ({r.fsync_note})"
        return f"{r.fsyncs:.1f}"

    durability = table(
        [
            "store",
            "a turn's calls",
            "journal_mode",
            "synchronous",
            "fsyncs per turn",
            "durable",
            "connections",
        ],
        [
            (
                r.peer.label,
                r.peer.calls,
                r.journal,
                r.synchronous,
                fsync_cell(r),
                "yes" if r.durable else "**no**",
                r.connections,
            )
            for r in results
        ],
        align="llcccc" + "l",
    )
    growth = table(
        [
            "store",
            *[f"{n:,} messages" for n in lengths],
            f"{last:,} vs {first:,}",
            *[f"CPU, {n:,}" for n in lengths],
            f"CPU {last:,} vs {first:,}",
        ],
        [
            (
                r.peer.label,
                *[ms(r.at(n)) for n in lengths],
                times(r.at(last) / r.at(first), 2),
                *[ms(r.cpu_at(n)) for n in lengths],
                times(r.cpu_at(last) / r.cpu_at(first), 2),
            )
            for r in results
        ],
    )
    concurrent = table(
        [
            "store",
            "wall per turn",
            "turn latency (median)",
            "turn latency (p95)",
            "fsyncs per turn",
            "failed turns",
        ],
        [
            (
                r.peer.label,
                ms(r.wall_per_turn),
                ms(median(r.latencies)) if r.latencies else "n/a",
                ms(percentile(r.latencies, 95)) if r.latencies else "n/a",
                "n/a" if r.fsyncs_concurrent is None else f"{r.fsyncs_concurrent:.2f}",
                f"{len(r.failures)}" + (f": {r.failures[0][:120]}" if r.failures else ""),
            )
            for r in results
        ],
    )
    target_rows = []
    if durable_peers:
        for length in lengths:
            fastest = min(durable_peers, key=lambda r: r.at(length))
            ratio = ours.at(length) / fastest.at(length)
            target_rows.append(
                (
                    f"one turn at a time, {length:,} messages",
                    f"{ms(ours.at(length))} vs {ms(fastest.at(length))} ({fastest.peer.label})",
                    times(ratio, 2),
                    f"≤ {times(TARGET_RATIO, 2)}",
                    verdict(ratio <= TARGET_RATIO),
                )
            )
        fastest = min(durable_peers, key=lambda r: r.wall_per_turn)
        ratio = ours.wall_per_turn / fastest.wall_per_turn
        target_rows.append(
            (
                f"{CONCURRENT_SESSIONS} sessions at once, {CONCURRENT_HISTORY} messages, "
                "wall per turn",
                f"{ms(ours.wall_per_turn)} vs {ms(fastest.wall_per_turn)} ({fastest.peer.label})",
                times(ratio, 2),
                f"≤ {times(TARGET_RATIO, 2)}",
                verdict(ratio <= TARGET_RATIO),
            )
        )
    floor = next((r for r in results if r.peer.reference), None)
    if floor is not None:
        ratio = ours.at(first) / floor.at(first)
        target_rows.append(
            (
                f"issue 10: one turn at a time, {first:,} messages, vs the bare commit of the "
                "same two rows (the reference row)",
                f"{ms(ours.at(first))} vs {ms(floor.at(first))}",
                times(ratio, 2),
                f"≤ {times(FLOOR_RATIO, 2)}",
                verdict(ratio <= FLOOR_RATIO),
            )
        )
    flat = ours.cpu_at(last) / ours.cpu_at(first)
    target_rows.append(
        (
            f"flat: sessionful' turn at {last:,} vs {first:,} messages, CPU time "
            "(wall clock in brackets)",
            f"{ms(ours.cpu_at(last))} vs {ms(ours.cpu_at(first))} "
            f"({ms(ours.at(last))} vs {ms(ours.at(first))})",
            f"{times(flat, 2)} ({times(ours.at(last) / ours.at(first), 2)})",
            f"≤ {times(FLAT_FACTOR, 2)}",
            verdict(flat <= FLAT_FACTOR),
        )
    )
    targets = table(
        ["target", "sessionful vs the fastest durable peer, or as stated", "ratio", "target", ""],
        target_rows,
        align="lllrc",
    )
    if cadence[0] > 1.25 * cadence[1]:
        cadence_text = (
            "on this virtual disk, how long a flush waits depends on how recently the previous "
            "one completed"
        )
    else:
        cadence_text = "the pause made little difference on this disk during this run"
    floor_text = ""
    if floor is not None:
        floor_text = (
            f"Against the reference row, the floor: at {first} messages a bare commit of the same "
            f"two rows with the same durability took {ms(floor.at(first))} of wall time and "
            f"{ms(floor.cpu_at(first))} of CPU; sessionful' turn took {ms(ours.at(first))} "
            f"and {ms(ours.cpu_at(first))} of CPU, so its own work (the epoch check, the fenced "
            "update of the session record, the hops to its writer thread) is about "
            f"{ms(max(0.0, ours.cpu_at(first) - floor.cpu_at(first)))} a turn, and the rest is "
            "waiting for the disk. One turn at a time, no durable store goes below one fsync per "
            "acknowledged turn; where one fsync is most of a turn, the only way to halve a "
            "durable turn is to share the fsync among turns, which the next table shows."
        )
    notes = [f"- {m}" for m in missing]
    for r in results:
        if r.failures:
            kinds = sorted({f.split(":", 1)[0] for f in r.failures})
            notes.append(
                f"- {r.peer.label}: {len(r.failures)} of its concurrent turns failed "
                f"({', '.join(kinds)}); its wall time per turn counts only the time, not them."
            )
    fills = ", ".join(f"{r.peer.label} {r.fill_seconds:.1f} s" for r in results)
    notes.append(f"- Filling the stores (untimed) took: {fills}.")
    if scratch is None:
        notes.append("- No tmpfs was found: the stores were filled on disk (only slower).")
    notes_text = "\n".join(notes)
    return f"""## sessionful' SQLite store vs the stores users would pick instead

One workload for every store: per turn, **load the session's history, then append a user
message ({USER_CHARS} characters) and an assistant message ({ASSISTANT_CHARS} characters)**, each
store through its own public API and message types, as its framework's runner does around a
model call (no model runs). Every store writes its own file on {_filesystem(directory)} (not
tmpfs), through one connection (or a small pool) for all its sessions where its API allows.
sessionful runs twice: as the `persisted` strategy uses its store (the session was claimed
once when loaded; its history lives in the session's instance, so a turn checks the lease epoch
and appends), and, to be fair to "load the history", reading the whole history with `history()`
every turn. LangGraph's savers are used directly: the thread's latest checkpoint is read (it
holds the whole message list, as LangChain `HumanMessage`/`AIMessage` objects) and the next one
put with the two new messages: one `put` per turn, fewer writes than a graph run makes. ADK's
turn appends two events, as its runner does. The reference row is not a store: the turn's two
rows inserted and committed on a bare connection with the same durability, the floor any
durable SQLite store stands on.

Before the timing, each store is filled through its own API with sessions already holding
{", ".join(f"{n:,}" for n in lengths)} messages (written on tmpfs, then copied to the disk and
flushed, so that only the timed turns pay fsyncs on disk; LangGraph's threads get their history
in one checkpoint).

### Durability, as each store runs by default

`journal_mode` and `synchronous` are read with `PRAGMA`s on a connection the store writes with.
Fsyncs per turn: the `fsync` and `fdatasync` calls of the whole process, counted by
`strace -f -c` over {fsync_turns} turns in a separate, untimed pass. Durable: `synchronous`
`FULL` or `EXTRA`, so that an acknowledged turn has been fsynced and survives a power loss. In
WAL mode `FULL` syncs the WAL once per commit; with a rollback journal (`DELETE`) a commit syncs
the journal and the database file.

{durability}

### Time per turn as the history grows, one turn at a time

The disk: an `fdatasync` of a 4 KiB overwrite issued right after the previous one returned took
{ms(cadence[0])} (median), and one issued after a random pause of up to
{PAUSE_MAX * 1000:g} ms took {ms(cadence[1])}: {cadence_text}. A turn in real use starts after
a model call, at a random moment; so here every timed turn starts after an untimed random pause
of up to {PAUSE_MAX * 1000:g} ms, and the stores take their turns interleaved one by one, every
store at every length in an order shuffled every time, so that no figure depends on which store
went before it and the disk's changing behaviour falls on all alike.

Median time of one turn at each history length over {rounds * per_round} turns per store and
length ({rounds} rounds of {per_round}). The sessions of {lengths[0]:,} and {lengths[1]:,}
messages are fresh each round (the history grows by at most {2 * per_round} messages during a
round); the one of {lengths[-1]:,} is shared by the rounds and ends at
{lengths[-1] + 2 * rounds * per_round:,}. Wall time is what the caller waits; CPU is the
process's CPU time over the turn (every thread, the stores' own threads included): the work a
turn does, which the disk's noise does not touch. Growth is read on CPU time.

{growth}

{floor_text}

### {CONCURRENT_SESSIONS} sessions at once

{CONCURRENT_SESSIONS} sessions, each starting with {CONCURRENT_HISTORY} messages and running
{c_turns} turns back to back per round, all {CONCURRENT_SESSIONS} in flight together (the sync
stores on {CONCURRENT_SESSIONS} threads), {c_rounds} rounds, the stores in a shuffled order each
round (the sessions end with {CONCURRENT_HISTORY + 2 * c_rounds * c_turns} messages). Wall per
turn: the rounds' wall time over their turns. Latency: each turn's, as its caller waits.
Fsyncs per turn: counted as in the durability table, over a separate, untimed round (tracing
slows every system call, which lets more turns share a commit than untraced, so read it as
"shared or not", not as an exact batch size). sessionful commits the turns that complete
together in one transaction, with one fsync (group commit); the others commit each write on its
own, one after another.

{concurrent}

### Targets

{targets}

Notes:

{notes_text}
"""
