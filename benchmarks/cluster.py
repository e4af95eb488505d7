"""Several instances behind nginx (issue 6, item 5): affinity, the cost of a miss, scaling.

Real processes on loopback, as in tests/test_cluster.py (whose harness, tests/support/cluster.py,
this uses): ``python -m sessionful.service.http`` instances with ``persisted`` sessions on the
Postgres of ``SESSIONFUL_TEST_POSTGRES_DSN`` (``make bench`` runs under scripts/with-postgres.sh)
and the stub agent, behind nginx on ``deploy/nginx.conf``. Without nginx or Postgres each section is
skipped with a note. A turn's ``instance_event`` says where it ran: ``reused`` means it landed on
the instance that already had the session live (an affinity hit), ``restored`` that the instance
had to rebuild it from the store and claim its lease (a miss).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from benchmarks._measure import median, percentile, table, verdict
from benchmarks._runner import Context, section

__all__: list[str] = []

POSTGRES_ENV = "SESSIONFUL_TEST_POSTGRES_DSN"
HIT_TARGET = 0.99


def _harness() -> ModuleType:
    tests = str(Path(__file__).resolve().parent.parent / "tests")
    if tests not in sys.path:
        sys.path.append(tests)  # the tests' shared helpers: tests/support/
    return importlib.import_module("support.cluster")


def _unavailable() -> str | None:
    if not os.environ.get(POSTGRES_ENV):
        return f"skipped: `{POSTGRES_ENV}` is not set (run under `scripts/with-postgres.sh`)"
    if _harness().nginx_binary() is None:
        return f"skipped: {_harness().NO_NGINX}"
    return None


@contextlib.contextmanager
def _schema() -> Iterator[str]:
    """A DSN on a schema of its own, dropped afterwards."""
    import psycopg
    from psycopg import sql

    base = os.environ[POSTGRES_ENV]
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        from urllib.parse import quote

        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}', safe='')}"
    finally:
        with contextlib.suppress(psycopg.Error), psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@contextlib.contextmanager
def _cluster(size: int) -> Iterator[Any]:
    with _schema() as dsn, tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        harness = _harness()
        with harness.cluster(Path(tmp), dsn, size, config={"overlap": "enqueue"}) as cluster:
            harness.healthy_through(cluster.url)
            yield cluster


def _client(url: str) -> httpx.Client:
    servers = _harness().servers
    return httpx.Client(base_url=url, headers=servers.auth(servers.ALICE), timeout=30.0)


def _create(client: httpx.Client, n: int) -> list[str]:
    out = []
    for _ in range(n):
        response = client.post(f"/v1/agents/{_harness().servers.ECHO}/sessions", json={})
        response.raise_for_status()
        out.append(response.json()["session_id"])
    return out


def _turn(client: httpx.Client, session_id: str, text: str = "hi") -> tuple[str, float]:
    path = f"/v1/agents/{_harness().servers.ECHO}/sessions/{session_id}/messages"
    start = time.perf_counter()
    response = client.post(path, json={"messages": [{"role": "user", "content": text}]})
    seconds = time.perf_counter() - start
    response.raise_for_status()
    return response.json()["instance_event"], seconds


def _run_sessions(url: str, sessions: list[str], turns: int, workers: int) -> Counter[str]:
    """``turns`` turns on each session, ``workers`` sessions at a time, through ``url``."""

    def one(session_id: str) -> Counter[str]:
        events: Counter[str] = Counter()
        with _client(url) as client:
            for i in range(turns):
                events[_turn(client, session_id, f"turn {i}")[0]] += 1
        return events

    total: Counter[str] = Counter()
    with ThreadPoolExecutor(workers) as pool:
        for events in pool.map(one, sessions):
            total += events
    return total


@section("cluster.affinity", "Affinity through nginx, and the cost of a miss")
def affinity(ctx: Context) -> str:
    title = "## Affinity through nginx, and the cost of a miss\n\n"
    if note := _unavailable():
        return title + note + "\n"
    sessions, turns, samples = (12, 3, 20) if ctx.quick else (60, 10, 200)
    with _cluster(3) as cluster:
        with _client(cluster.url) as client:
            ids = _create(client, sessions)
        warm = _run_sessions(cluster.url, ids, 1, 12)  # each session lands on its instance
        steady = _run_sessions(cluster.url, ids, turns, 12)
        hits = steady["reused"] / max(sum(steady.values()), 1)

        # Owner vs non-owner, straight to the instances: the same session again and again on
        # one instance (reused), or alternately on two (each turn restores and claims).
        a, b = cluster.instances[0], cluster.instances[1]
        with _client(a.url) as ca, _client(b.url) as cb:
            [owner_session, moving_session] = _create(ca, 2)
            _turn(ca, owner_session)
            owner = [_turn(ca, owner_session)[1] for _ in range(samples)]
            moved: list[float] = []
            events: Counter[str] = Counter()
            for i in range(samples):
                event, seconds = _turn(cb if i % 2 else ca, moving_session)
                events[event] += 1
                moved.append(seconds)
            moved = moved[2:]
    ctx.note(f"warm-up {dict(warm)}, steady {dict(steady)}, alternating {dict(events)}")
    rows = [
        ("on the owner (`reused`)", f"{median(owner) * 1e3:.2f} ms",
         f"{percentile(owner, 95) * 1e3:.2f} ms"),
        ("on a non-owner (`restored`: restore + claim)", f"{median(moved) * 1e3:.2f} ms",
         f"{percentile(moved, 95) * 1e3:.2f} ms"),
    ]  # fmt: skip
    return (
        title
        + f"Three instances behind nginx (`hash $session consistent`), {sessions} sessions, after "
        f"one warm-up turn each: {turns} more turns per session, 12 at a time.\n\n"
        + table(
            ["figure", "value", "target"],
            [
                (
                    "affinity hit rate (`reused` / all turns)",
                    f"{hits:.2%} ({steady['reused']:,} of {sum(steady.values()):,})",
                    f"≥ {HIT_TARGET:.0%} {verdict(hits >= HIT_TARGET)}",
                )
            ],
        )
        + f"\n\nOne turn of the stub agent, sent straight to an instance, {samples} times "
        "(the non-owner row alternates two instances, so each of its turns restores the session, "
        f"up to {samples} turns long, from Postgres and claims its lease):\n\n"
        + table(["turn", "median", "p95"], rows)
        + "\n"
    )


@section("cluster.throughput", "Throughput with 1, 2 and 3 instances")
def throughput(ctx: Context) -> str:
    title = "## Throughput with 1, 2 and 3 instances\n\n"
    if note := _unavailable():
        return title + note + "\n"
    sessions, turns, workers = (12, 3, 12) if ctx.quick else (48, 50, 24)
    rows = []
    for size in (1, 2, 3):
        with _cluster(size) as cluster:
            with _client(cluster.url) as client:
                ids = _create(client, sessions)
            _run_sessions(cluster.url, ids, 1, workers)
            start = time.perf_counter()
            events = _run_sessions(cluster.url, ids, turns, workers)
            seconds = time.perf_counter() - start
        done = sum(events.values())
        rows.append((size, f"{done:,}", f"{seconds:.2f} s", f"{done / seconds:,.0f}"))
        ctx.note(f"{size} instance(s): {done / seconds:,.0f} turns/s")
    return (
        title + f"{workers} concurrent clients (threads of the benchmark's process) through nginx, "
        f"{sessions} sessions x {turns} turns of the stub agent, `persisted` on Postgres; "
        f"this machine has {os.cpu_count()} cores, shared by the instances, nginx, Postgres "
        "and the clients, so more instances mostly add parallelism the cores cannot give.\n\n"
        + table(["instances", "turns", "time", "turns/s"], rows)
        + "\n"
    )
