"""Crash test: a real child process runs turns on a persisted store and is killed with SIGKILL at
random points, many times over; after each kill, every turn acknowledged to the caller is in the
store, in order and once, the SQLite file passes ``PRAGMA integrity_check``, and the session
continues where it stopped.

Each round a fresh child process (forked by tests/support/workers.py ``zygote``, which imported
everything once, so a restart costs milliseconds) runs three sessions concurrently, so kills land
in group commits of several turns as well as in single ones, in claims, restores and schema setup.
``SESSIONFUL_SOAK=1`` (``make soak``) runs 500 rounds on SQLite and 200 on Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sessionful import SessionKey
from sessionful.stores import SessionStore, SQLiteStore
from support import workers

SOAK = os.environ.get("SESSIONFUL_SOAK") == "1"
SQLITE_ROUNDS = 500 if SOAK else 60
POSTGRES_ROUNDS = 200 if SOAK else 20
SESSIONS_PER_CHILD = 3
ROTATE_EVERY = 20
"""Rounds per set of sessions, so a soak's restores stay short (each replays the whole log)."""
SEED = 20_240_611

log = logging.getLogger(__name__)


@dataclass
class Figures:
    kills: int = 0
    acknowledged: int = 0
    """Acknowledged turns, each found in the store after the kill."""
    committed_unacked: int = 0
    """Turns committed but killed before their acknowledgement was printed (allowed: at most
    one per session per round)."""
    settled: int = 0
    """Rounds where the dead child's server sessions were still finishing when it was reaped
    (Postgres)."""
    killed_before_first_ack: int = 0
    logged: int = 0
    """Turns in the store at the end."""
    seconds: float = 0.0


def sessions_for(round_: int) -> list[str]:
    batch = round_ // ROTATE_EVERY
    return [f"b{batch}s{j}" for j in range(SESSIONS_PER_CHILD)]


def kill_delay(rng: random.Random, round_: int, startup: float) -> float:
    """Seconds after the fork. Every tenth round kills at once (the first one while the schema
    is being made); of the rest, a quarter land in the child's start-up (connect, schema check,
    claim, restore: about ``startup`` seconds), the others among its turns."""
    if round_ % 10 == 0:
        return 0.0
    if rng.random() < 0.25:
        return rng.uniform(0.0, startup)
    return rng.uniform(startup, startup + 0.35)


def parse_acks(lines: list[str]) -> list[tuple[str, str, int]]:
    acks = []
    for line in lines:
        fields = line.split()
        if len(fields) == 4 and fields[0] == "ACK":
            acks.append((fields[1], fields[2], int(fields[3])))
    return acks


async def crash_rounds(
    store: SessionStore,
    url: str,
    rounds: int,
    tmp_path: Path,
    integrity: Callable[[], list[tuple[str]]] | None,
    startup: float,
    settle: Callable[[], Awaitable[bool]] | None = None,
) -> Figures:
    """Run ``rounds`` kill-and-verify rounds against ``url``; ``store`` reads the results.

    ``startup``: about how long a child takes to its first turn. ``settle``: waits, after a
    kill, until nothing of the dead child can still commit; True if it had to wait. (A SQLite
    file holds nothing of a dead process but what it committed; a Postgres server finishes a
    dead client's transaction when all of it had arrived, so a turn the child never saw
    acknowledged may commit just after the child is gone.)"""
    namespace = f"crash-{uuid.uuid4().hex[:8]}"
    rng = random.Random(SEED)
    figures = Figures()
    seen: dict[str, list[str]] = {}
    started = time.monotonic()
    zygote = workers.Child(
        "zygote",
        f"--store={url}",
        f"--namespace={namespace}",
        "--max-seconds=60",
        f"--max-forks={rounds}",
        stderr_path=tmp_path / "children.err",
    )
    try:
        with zygote:
            zygote.expect("READY", timeout=60)
            for round_ in range(rounds):
                begin = len(zygote.lines)  # the child's lines are all read after this
                zygote.send(f"FORK {round_} {','.join(sessions_for(round_))}")
                pid = int(zygote.expect("PID", timeout=30).split()[1])
                await asyncio.sleep(kill_delay(rng, round_, startup))
                zygote.send("KILL")
                exit_line = zygote.expect(f"EXIT {pid} ", timeout=30)
                assert exit_line == f"EXIT {pid} {-signal.SIGKILL}", (
                    f"round {round_}: the child was not killed ({exit_line}); "
                    f"stderr: {zygote.stderr()}"
                )
                figures.kills += 1
                # The child's lines all precede EXIT: it wrote them before it died.
                acks = parse_acks(zygote.lines[begin:])
                if not acks:
                    figures.killed_before_first_ack += 1
                if settle is not None and await settle():
                    figures.settled += 1
                if integrity is not None:
                    assert integrity() == [("ok",)], f"round {round_}: integrity check failed"
                for session in sessions_for(round_):
                    await verify_session(
                        store,
                        namespace,
                        session,
                        round_,
                        acks,
                        seen,
                        figures,
                    )
            zygote.finish(timeout=30)
        figures.logged = sum(len(texts) for texts in seen.values())
    finally:
        with contextlib.suppress(Exception):
            await workers.drop_namespace(store, namespace)
    figures.seconds = time.monotonic() - started
    return figures


async def verify_session(
    store: SessionStore,
    namespace: str,
    session: str,
    round_: int,
    acks: list[tuple[str, str, int]],
    seen: dict[str, list[str]],
    figures: Figures,
) -> None:
    key = SessionKey(workers.AGENT, session, namespace)
    texts = workers.check_log(await store.history(key))  # no duplicate, no gap in echo #n
    where = f"round {round_}, session {session}"
    before = seen.get(session, [])
    assert texts[: len(before)] == before, f"{where}: earlier turns changed or lost"
    new = texts[len(before) :]
    # This round's turns, in order and each once: the child's texts are "<round>.<i>".
    assert new == [f"{round_}.{i}" for i in range(len(new))], f"{where}: logged {new}"
    mine = [(text, n) for name, text, n in acks if name == session]
    assert len(mine) <= len(new) <= len(mine) + 1, (
        f"{where}: {len(mine)} acknowledged, {len(new)} logged"
    )
    for text, n in mine:  # each acknowledged turn is logged where its echo count says
        assert texts[n - 1] == text, f"{where}: acknowledged {text} as #{n}"
    if mine:  # the session continued: the first turn after the restart counted on from the log
        assert mine[0][1] == len(before) + 1, f"{where}: restarted at #{mine[0][1]}"
    record = await store.get(key)
    if texts:
        assert record is not None
        assert (record.turn_count, record.message_count) == (len(texts), 2 * len(texts))
    figures.acknowledged += len(mine)
    figures.committed_unacked += len(new) - len(mine)
    seen[session] = texts


@pytest.mark.slow
async def test_sigkill_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SQLiteStore(path)  # opened at its first read, after round 0's child made the schema

    def integrity() -> list[tuple[str]]:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return conn.execute("PRAGMA integrity_check").fetchall()

    try:
        figures = await crash_rounds(
            store, f"sqlite:///{path.as_posix()}", SQLITE_ROUNDS, tmp_path, integrity, 0.05
        )
    finally:
        await store.aclose()
    log.info("SQLite crash test: %s", figures)
    assert figures.kills == SQLITE_ROUNDS
    assert figures.acknowledged > SQLITE_ROUNDS  # the kills did land mid-run
    assert figures.killed_before_first_ack > 0  # and some in start-up


@pytest.mark.slow
async def test_sigkill_postgres(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = workers.postgres_url(request)
    import psycopg

    from sessionful.stores.postgres import PostgresStore

    name = f"crash-child-{uuid.uuid4().hex[:8]}"
    child_url = f"{url}{'&' if '?' in url else '?'}application_name={name}"
    store = PostgresStore.from_url(url)
    monitor = await psycopg.AsyncConnection.connect(url, autocommit=True)

    async def settle() -> bool:
        """Wait until the server has ended the dead child's sessions (bounded)."""
        for attempt in range(500):
            cursor = await monitor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
            )
            row = await cursor.fetchone()
            if row is None or row[0] == 0:
                return attempt > 0
            await asyncio.sleep(0.01)
        raise AssertionError("the dead child's server sessions did not end within 5 s")

    try:
        figures = await crash_rounds(
            store, child_url, POSTGRES_ROUNDS, tmp_path, None, 0.15, settle
        )
    finally:
        await monitor.close()
        await store.aclose()
    log.info("Postgres crash test: %s", figures)
    assert figures.kills == POSTGRES_ROUNDS
    assert figures.acknowledged > POSTGRES_ROUNDS
