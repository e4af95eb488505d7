"""The service's figures (issue 5, item 5): the HTTP service under load on loopback.

A real server (``python -m sessionful.service.http``, what ``sessionful serve`` runs: uvicorn,
one process) with ``persisted`` sessions on a SQLite file and the **stub** agent, so the figures
are the service's own cost (HTTP, auth, validation, the manager, the store) and not a model's.
200 concurrent clients run 20 turns each over 500 sessions of four principals; then every
session's stored history is compared with the turns the clients were answered for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks._measure import percentile, table, verdict
from benchmarks._runner import Context, section

__all__: list[str] = []

AGENT = "echo"
PRINCIPALS = {f"tenant-{i}": f"bench-key-tenant-{i}-0123456789" for i in range(4)}
TIME_CAP = 300.0
"""Seconds the load may run; turns not started by then are counted as not run."""


@dataclass
class _Size:
    clients: int
    turns: int
    sessions: int


FULL = _Size(clients=200, turns=20, sessions=500)
QUICK = _Size(clients=20, turns=5, sessions=50)


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def cpu_seconds(self) -> float:
        """User and system CPU time the server process has used."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


def _config(directory: Path, query: str = "") -> Path:
    db = (directory / "sessions.db").resolve().as_posix() + query
    keys = "\n".join(f'"{key}" = "{principal}"' for principal, key in PRINCIPALS.items())
    config = directory / "sessionful.toml"
    config.write_text(
        f"""strategy = "persisted"
store = "sqlite:///{db}"

[[agents]]
id = "{AGENT}"
framework = "stub"
template_id = "echo"

[auth.api_keys]
{keys}

[server]
host = "127.0.0.1"
""",
        encoding="utf-8",
    )
    return config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(config: Path) -> Iterator[_Server]:
    port = _free_port()
    log = config.with_suffix(".log")
    env = {**os.environ, "SESSIONFUL_SERVER__PORT": str(port)}
    args = [sys.executable, "-m", "sessionful.service.http", str(config)]
    args += ["--no-access-log", "--log-level", "warning"]
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = _Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class _Session:
    principal: str
    session_id: str
    acknowledged: list[str] = field(default_factory=list)


@dataclass
class _Load:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    not_run: int = 0
    seconds: float = 0.0
    create_seconds: float = 0.0
    rss_sessions: int = 0
    """The server's RSS once the sessions exist, before the turns."""
    server_cpu: float = 0.0
    """CPU seconds the server used during the turns."""


def _headers(principal: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {PRINCIPALS[principal]}"}


class _Connection:
    """One keep-alive HTTP/1.1 connection: the load generator's client. A minimal one on asyncio
    streams, so the figures are the server's: httpx's async pool, at 200 connections in one
    process, stalls for seconds now and then and would measure itself."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port, self.key = host, port, key
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = b"" if body is None else json.dumps(body).encode()
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


async def _create(connections: list[_Connection], size: _Size) -> list[_Session]:
    names = list(PRINCIPALS)

    async def share(c: int) -> list[_Session]:
        made = []
        for i in range(c, size.sessions, len(connections)):  # this client's share, in turn
            principal = names[i % len(names)]
            status, body = await connections[c].request("POST", f"/v1/agents/{AGENT}/sessions")
            if status != 201:
                raise RuntimeError(f"creating a session: {status} {body!r}")
            made.append((i, _Session(principal, json.loads(body)["session_id"])))
        return [session for _, session in made]

    shares = await asyncio.gather(*(share(c) for c in range(len(connections))))
    return [session for share_ in shares for session in share_]


async def _load(ctx: Context, server: _Server, size: _Size) -> tuple[_Load, list[_Session]]:
    result = _Load()
    host, port = server.url.removeprefix("http://").split(":")
    names = list(PRINCIPALS)
    # Client c speaks for principal c mod 4, and so creates that principal's sessions.
    connections = [
        _Connection(host, int(port), PRINCIPALS[names[c % len(names)]]) for c in range(size.clients)
    ]
    try:
        started = time.perf_counter()
        sessions = await _create(connections, size)
        result.create_seconds = time.perf_counter() - started
        result.rss_sessions = server.rss()
        # Each client's turns go to its own principal's sessions, spread over all of them.
        by_principal = {p: [s for s in sessions if s.principal == p] for p in names}
        total = size.clients * size.turns
        bar = ctx.progress("turns", total)
        done = 0
        stop_at = time.monotonic() + TIME_CAP

        async def run_client(c: int) -> None:
            nonlocal done
            mine = by_principal[names[c % len(names)]]
            for t in range(size.turns):
                if time.monotonic() > stop_at:
                    result.not_run += size.turns - t
                    return
                session = mine[(c // len(names) + t * size.clients // len(names)) % len(mine)]
                text = f"client {c} turn {t}"
                body = {"messages": [{"role": "user", "content": text}]}
                path = f"/v1/agents/{AGENT}/sessions/{session.session_id}/messages"
                t0 = time.perf_counter()
                try:
                    status, _ = await connections[c].request("POST", path, body)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    result.errors[type(exc).__name__] += 1
                    await connections[c].close()
                    connections[c] = _Connection(host, int(port), connections[c].key)
                else:
                    if status == 200:
                        result.latencies.append(time.perf_counter() - t0)
                        session.acknowledged.append(text)
                    else:
                        result.errors[f"HTTP {status}"] += 1
                done += 1
                bar.update(done)

        started, cpu = time.perf_counter(), server.cpu_seconds()
        await asyncio.gather(*(run_client(c) for c in range(size.clients)))
        result.seconds = time.perf_counter() - started
        result.server_cpu = server.cpu_seconds() - cpu
        bar.close()
    finally:
        for connection in connections:
            await connection.close()
    return result, sessions


async def _lost(server: _Server, sessions: list[_Session]) -> tuple[int, int, int]:
    """(acknowledged turns missing from the store, stored turns never acknowledged, stored)."""
    lost = extra = stored = 0
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:

        async def check(session: _Session) -> tuple[int, int, int]:
            response = await client.get(
                f"/v1/agents/{AGENT}/sessions/{session.session_id}",
                headers=_headers(session.principal),
            )
            response.raise_for_status()
            users = [m["content"] for m in response.json()["history"] if m["role"] == "user"]
            acked = set(session.acknowledged)
            return len(acked - set(users)), len(set(users) - acked), len(users)

        for found in await asyncio.gather(*(check(s) for s in sessions)):
            lost, extra, stored = lost + found[0], extra + found[1], stored + found[2]
    return lost, extra, stored


def _server_turn_seconds(server: _Server) -> tuple[float, float]:
    """(sum, count) of ``sessionful_turn_duration_seconds`` from ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "sessionful_turn_duration_seconds_sum":
                total += sample.value
            elif sample.name == "sessionful_turn_duration_seconds_count":
                count += sample.value
    return total, count


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


@dataclass
class _Run:
    label: str
    size: _Size
    result: _Load
    lost: int
    extra: int
    stored: int
    turn_sum: float
    turn_count: float
    rss_idle: int
    rss_after: int


def _run(ctx: Context, label: str, query: str, size: _Size) -> _Run:
    directory = Path(tempfile.mkdtemp(prefix="sessionful-bench-"))
    try:
        with _server(_config(directory, query)) as server:
            rss_idle = server.rss()
            result, sessions = asyncio.run(_load(ctx, server, size))
            rss_after = server.rss()
            lost, extra, stored = asyncio.run(_lost(server, sessions))
            turn_sum, turn_count = _server_turn_seconds(server)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return _Run(label, size, result, lost, extra, stored, turn_sum, turn_count, rss_idle, rss_after)


def _column(run: _Run) -> list[str]:
    result, size = run.result, run.size
    answered = len(result.latencies)
    errors = sum(result.errors.values())
    throughput = answered / result.seconds if result.seconds else 0.0
    lat = result.latencies or [0.0]
    kinds = ", ".join(f"{n} {kind}" for kind, n in result.errors.most_common())
    creating = result.create_seconds
    return [
        f"{answered:,} of {size.clients * size.turns:,}",
        f"{result.seconds:,.2f} s",
        f"{throughput:,.0f} turns/s",
        f"{percentile(lat, 50) * 1000:,.1f} ms",
        f"{percentile(lat, 99) * 1000:,.1f} ms",
        f"{max(lat) * 1000:,.1f} ms",
        f"{run.turn_sum / run.turn_count * 1e6:,.0f} µs" if run.turn_count else "n/a",
        f"{result.server_cpu / answered * 1000:,.2f} ms" if answered else "n/a",
        f"{errors}{f' ({kinds})' if kinds else ''} {verdict(errors == 0)}",
        f"{result.not_run}",
        f"{run.lost} {verdict(run.lost == 0)}",
        f"{run.extra}",
        f"{run.stored:,}",
        f"{creating:,.2f} s ({size.sessions / creating:,.0f}/s)" if creating else "n/a",
        _mib(run.rss_idle),
        _mib(result.rss_sessions),
        _mib(run.rss_after),
    ]


@section("service.load", "The HTTP service under load: 200 clients x 20 turns over 500 sessions")
def load(ctx: Context) -> str:
    size = QUICK if ctx.quick else FULL
    runs = [
        _run(ctx, "SQLite, `synchronous=FULL` (the default)", "", size),
        _run(ctx, "SQLite, `synchronous=NORMAL`", "?synchronous=NORMAL", size),
    ]
    total = size.clients * size.turns
    labels = [
        "turns answered",
        "wall time of the turns",
        "throughput",
        "latency p50 (client side)",
        "latency p99 (client side)",
        "latency max (client side)",
        "mean agent time per turn (`turn_completed` durations, from `/metrics`)",
        "server CPU per turn (user + system, all its threads)",
        "errors (target 0)",
        "turns not run (time cap)",
        "lost turns: acknowledged, not in the store (target 0)",
        "stored turns never acknowledged",
        "turns in the store",
        f"creating the {size.sessions} sessions",
        "server RSS after start, no sessions",
        f"server RSS with {size.sessions} sessions, before the turns",
        f"server RSS after the {total:,} turns",
    ]
    columns = [_column(run) for run in runs]
    rows = [(label, *(column[i] for column in columns)) for i, label in enumerate(labels)]
    return "\n".join(
        [
            f"## The HTTP service under load: {size.clients} clients x {size.turns} turns "
            f"over {size.sessions} sessions",
            "",
            "`python -m sessionful.service.http` (what `sessionful serve` runs: one uvicorn "
            "process, no access log) on a loopback port, `persisted` on a SQLite file, with the "
            "**stub** agent, so these are the service's own costs (HTTP, auth, validation, the "
            "manager, the store) and not a model's. "
            f"{size.sessions} sessions of {len(PRINCIPALS)} principals are created first; then "
            f"{size.clients} concurrent clients run {size.turns} turns each; a client speaks for "
            "one principal and sends its turns round that principal's sessions, so every session "
            f"gets {size.clients * size.turns // size.sessions} turns and some arrive while the "
            'session is still busy (they wait their turn: `overlap = "enqueue"`). The clients '
            "are one asyncio process on the same machine, each with one keep-alive connection "
            "(a minimal HTTP/1.1 client: httpx's async pool stalls at 200 connections). "
            "Afterwards each session's stored history is read back over HTTP and compared with "
            "the turns the clients got a 200 for. The whole run is made twice: on the default "
            "store, which fsyncs every commit, and with `?synchronous=NORMAL` on the store URL "
            "(durable across a crash of the process, not of the machine).",
            "",
            table(("", *(run.label for run in runs)), rows),
            "",
            "Latency is per turn at the client, queueing in the server included: with "
            f"{size.clients} turns in flight on one process it is mostly waiting for that "
            "process's one core (the CPU per turn row: HTTP parsing, auth, validation, the "
            "manager, the store's writer thread); the stub agent itself takes microseconds. The "
            "store's commits are grouped, so fsyncing each one costs little throughput here. The "
            "clients share the machine's cores with the server, so the throughput is a floor.",
        ]
    )
