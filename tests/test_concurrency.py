"""Concurrency: several real processes on one SQLite file (and on one Postgres database) running
turns on different sessions and on the same sessions at once, and fencing between two real
processes, one of them paused mid-turn with SIGSTOP.

What must hold afterwards: no lost turn (every acknowledged turn is in the log, and nothing
unacknowledged is), no forked history (the stub's ``echo #n`` in the logged replies counts up by
one per user message, and each caller saw the count the log has), and no error reaching a caller
except ``LeaseLost``, which the workers retry and count. ``SESSIONFUL_SOAK=1`` runs ten times
as many turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sessionful import SessionKey
from sessionful.stores import SessionStore, SQLiteStore
from support import workers

SOAK = os.environ.get("SESSIONFUL_SOAK") == "1"
PROCESSES = 4
OWN_SESSIONS = 3
OWN_TURNS = 400 if SOAK else 40
"""Turns per worker on each of its own sessions."""
SHARED_SESSIONS = 2
SHARED_TURNS = 250 if SOAK else 25
"""Turns per worker on each shared session."""
WORKER_SECONDS = 600 if SOAK else 90
"""A worker gives up (and reports it) after this long."""

log = logging.getLogger(__name__)


@dataclass
class Target:
    """Where the workers write: a store URL, and a store object for the test to read with."""

    url: str
    store: SessionStore
    namespace: str


@pytest.fixture(params=["sqlite", "postgres"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    namespace = f"conc-{uuid.uuid4().hex[:8]}"
    store: SessionStore
    if request.param == "sqlite":
        path = tmp_path / "shared.db"
        url = f"sqlite:///{path.as_posix()}"
        store = SQLiteStore(path)
    else:
        url = workers.postgres_url(request)
        from sessionful.stores.postgres import PostgresStore

        store = PostgresStore.from_url(url)
    await store.open()
    try:
        yield Target(url, store, namespace)
    finally:
        with contextlib.suppress(Exception):
            await workers.drop_namespace(store, namespace)
        await store.aclose()


async def run_workers(
    target: Target,
    tmp_path: Path,
    plans: Sequence[tuple[str, Sequence[str], int]],
    latency: float = 0.0,
) -> list[dict[str, Any]]:
    """Start one ``turns`` worker per ``(tag, sessions, turns)``, release them together, and
    return their results. Fails on any error a caller saw, or on 'locked' in their stderr.
    ``latency``: seconds the stub spends in each turn (a wider window between a turn's lease
    check and its write)."""
    children = [
        workers.Child(
            "turns",
            f"--store={target.url}",
            f"--namespace={target.namespace}",
            f"--sessions={','.join(sessions)}",
            f"--turns={turns}",
            f"--tag={tag}",
            f"--seed={i}",
            f"--max-seconds={WORKER_SECONDS}",
            f"--latency={latency}",
            stderr_path=tmp_path / f"{tag}.err",
        )
        for i, (tag, sessions, turns) in enumerate(plans)
    ]
    try:
        for child in children:
            child.expect("READY", timeout=60)
        for child in children:  # all ready: start them together
            child.send("GO")
        outputs = await asyncio.gather(
            *(asyncio.to_thread(child.finish, WORKER_SECONDS + 30) for child in children)
        )
        results = []
        for child, output in zip(children, outputs, strict=True):
            lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
            assert child.proc.returncode == 0 and len(lines) == 1, (
                f"worker exit {child.proc.returncode}; stderr: {child.stderr()}"
            )
            stderr = child.stderr()
            assert "locked" not in stderr.lower(), stderr
            results.append(json.loads(lines[0][len("RESULT ") :]))
    finally:
        for child in children:
            child.close()
    errors = [error for result in results for error in result["errors"]]
    assert errors == [], f"errors reached callers: {errors}"
    return results


async def verify_sessions(
    target: Target, sessions: Sequence[str], results: Sequence[dict[str, Any]]
) -> tuple[int, int]:
    """Every session's log holds exactly the acknowledged turns, unforked. Returns how many turns
    there are, and how often the log passes from one worker's turn to another's."""
    total = handoffs = 0
    for session in sessions:
        key = SessionKey(workers.AGENT, session, target.namespace)
        texts = workers.check_log(await target.store.history(key))  # no fork, no duplicate
        acked = [
            (text, n)
            for result in results
            for text, n in result["acked"].get(session, [])  # each worker's, in its order
        ]
        assert sorted(texts) == sorted(text for text, _ in acked), (
            f"{session}: the log and the acknowledged turns differ"
        )
        for text, n in acked:  # the caller saw the count the log has: no fork a caller saw
            assert texts[n - 1] == text, f"{session}: {text} acknowledged as #{n}"
        for result in results:  # each worker's turns are logged in the order it ran them
            mine = [n for _, n in result["acked"].get(session, [])]
            assert mine == sorted(mine), f"{session}: a worker's turns out of order"
        record = await target.store.get(key)
        assert record is not None and record.turn_count == len(texts)
        total += len(texts)
        writers = [text.split(".")[0] for text in texts]
        handoffs += sum(1 for a, b in itertools.pairwise(writers) if a != b)
    return total, handoffs


def summary(results: Sequence[dict[str, Any]]) -> tuple[int, Counter[str]]:
    retries = sum(result["retries"] for result in results)
    events: Counter[str] = Counter()
    for result in results:
        events.update(result["events"])
    return retries, events


@pytest.mark.slow
async def test_processes_on_different_sessions(target: Target, tmp_path: Path) -> None:
    """Each process has sessions of its own; turns of all of them interleave in one file."""
    plans = [
        (f"w{w}", [f"own-{w}-{j}" for j in range(OWN_SESSIONS)], OWN_TURNS)
        for w in range(PROCESSES)
    ]
    results = await run_workers(target, tmp_path, plans)
    sessions = [s for _, own, _ in plans for s in own]
    total, _ = await verify_sessions(target, sessions, results)
    assert total == PROCESSES * OWN_SESSIONS * OWN_TURNS
    retries, events = summary(results)
    assert retries == 0  # nobody else touches these sessions: nothing to refuse
    log.info("different sessions: %d turns, %d retries, events %s", total, retries, events)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "latency"),
    # With a latency, Postgres spends its time in retries: its claims already race enough.
    [("sqlite", 0.0), ("sqlite", 0.002), ("postgres", 0.0)],
    indirect=["target"],
)
async def test_processes_on_the_same_sessions(
    target: Target, tmp_path: Path, latency: float
) -> None:
    """Every process runs turns on the same sessions: each turn is applied once, in one line of
    history, whoever won it; refused turns (``LeaseLost``) are retried. With a latency in the
    turn, another process claims between a turn's check and its write more often."""
    shared = [f"shared-{j}" for j in range(SHARED_SESSIONS)]
    plans = [(f"w{w}", shared, SHARED_TURNS) for w in range(PROCESSES)]
    results = await run_workers(target, tmp_path, plans, latency)
    total, handoffs = await verify_sessions(target, shared, results)
    assert total == PROCESSES * SHARED_SESSIONS * SHARED_TURNS
    retries, events = summary(results)
    assert handoffs > 0 and events["restored"] > 0  # they did take sessions from one another
    log.info(
        "same sessions (latency %s): %d turns, %d handoffs, %d LeaseLost retries, events %s",
        latency,
        total,
        handoffs,
        retries,
        dict(events),
    )


@pytest.mark.slow
@pytest.mark.parametrize("pause", ["sigstop", "inside-turn"])
async def test_fencing_two_processes(target: Target, tmp_path: Path, pause: str) -> None:
    """A takes the lease and stops inside a turn (SIGSTOP on top: a paused process); B claims the
    session and advances it; A resumes: its write is refused, its turn is not in the log, writes
    with its stale lease are all refused, and its retried turn runs on B's history."""
    session = "fenced"
    key = SessionKey(workers.AGENT, session, target.namespace)
    with workers.Child(
        "fence",
        f"--store={target.url}",
        f"--namespace={target.namespace}",
        f"--session={session}",
        "--node-id=process-A",
        "--probes=3",
        stderr_path=tmp_path / "a.err",
    ) as a:
        a.expect("INSIDE", timeout=60)  # A holds the lease and is mid-turn
        record = await target.store.get(key)
        assert record is not None and (record.epoch, record.owner) == (1, "process-A")
        if pause == "sigstop":
            a.signal(signal.SIGSTOP)
        try:
            (b_result,) = await run_workers(target, tmp_path, [("b", [session], 3)])
        finally:
            if pause == "sigstop":
                a.signal(signal.SIGCONT)
        assert [n for _, n in b_result["acked"][session]] == [1, 2, 3]
        a.send("GO")
        output = await asyncio.to_thread(a.finish, 60)
        assert a.proc.returncode == 0, a.stderr()
    lines = [line.split() for line in output.splitlines()]
    assert ["LEASELOST", "1"] in lines, output  # A's own write was refused
    (stale,) = [line for line in lines if line[0] == "STALE"]
    accepted, refused = int(stale[1]), int(stale[2])
    assert accepted == 0, f"{accepted} writes from a stale epoch were accepted"
    assert refused == 9
    assert ["ACK", "restored", "4"] in lines, output  # A's retry continued B's history
    texts = workers.check_log(await target.store.history(key))
    assert texts == ["b.0", "b.1", "b.2", "retry"]
    record = await target.store.get(key)
    assert record is not None and (record.epoch, record.turn_count) == (3, 4)
    log.info("fencing (%s): stale writes accepted %d, refused %d", pause, accepted, refused + 1)
