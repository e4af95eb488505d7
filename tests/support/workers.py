"""Child processes for the crash, concurrency and fencing tests, and the parent's side of them.

Run as a script (``python tests/support/workers.py MODE ...``) it is one worker process:

``crash``
    prints ``READY``, waits for ``GO`` on stdin, then runs turns on its sessions until it is
    killed (bounded in turns and seconds), printing ``ACK <session> <text> <n>`` after each
    ``execute`` returns, ``n`` being the stub's ``echo #n``.
``zygote``
    a fork server for the crash test: imports everything once, then for each ``FORK <round>
    <sessions>`` line forks a ``crash`` child (``PID <pid>``; the child shares its stdout, so its
    ``ACK`` lines come through the same pipe), and on ``KILL`` sends it SIGKILL, reaps it and
    prints ``EXIT <pid> <code>``. A fresh process per round costs milliseconds instead of half a
    second of imports; the zygote, being the parent, kills a pid that cannot have been reused.
``turns``
    prints ``READY``, waits for ``GO``, runs a fixed number of turns on each of its sessions
    concurrently, retrying a turn refused with ``LeaseLost``; prints ``RESULT <json>`` at the end.
``fence``
    the stale writer of the fencing test: runs one turn that stops inside the adapter (after the
    lease check) and prints ``INSIDE``; resumes on ``GO``; reports the refusal, then tries writes
    with its stale lease straight through the store API and reports how many were accepted, then
    retries the turn.

Imported (``from support import workers``), it offers the parent's helpers: :class:`Child` (a worker
as a context manager: pipes closed and process reaped however the test ends), :func:`check_log`
(the no-fork, no-loss check of a stub session's log), :func:`postgres_url` and
:func:`drop_namespace`. Every line a worker prints is flushed at once: an ``ACK`` on the
parent's side means the turn was acknowledged to the caller.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from sessionful import (
    AgentCreateRequest,
    AgentDefinition,
    AgentInstance,
    ChatMessage,
    ExecuteAgentCommand,
    LeaseLost,
    LifecyclePolicy,
    SessionKey,
    SessionManager,
    TurnOutput,
    TurnRequest,
)
from sessionful.stores import SessionStore, SQLiteStore
from sessionful.stores.base import Lease, TurnWrite
from sessionful_stub import StubAgent, StubFactory, StubFramework, StubSettings

AGENT = "reliability-bot"
DEFINITION = AgentDefinition(id=AGENT, name="Reliability", template_id="echo", template_version="1")
WORKER = Path(__file__).resolve()
ROOT = WORKER.parents[2]

# -- the worker side ------------------------------------------------------------------------------


def emit(*fields: object) -> None:
    """One line to the parent, written and flushed in one go (a pipe write under PIPE_BUF is
    atomic, so the parent never sees half a line from a killed child)."""
    sys.stdout.write(" ".join(str(f) for f in fields) + "\n")
    sys.stdout.flush()


def store_from_url(url: str) -> SessionStore:
    """The store a URL names, built here rather than through the plugin registry so that the
    child loads no entry points (a child must start fast)."""
    if url.startswith("sqlite:"):
        return SQLiteStore.from_url(url)
    if url.startswith(("postgresql:", "postgres:")):
        from sessionful.stores.postgres import PostgresStore

        return PostgresStore.from_url(url)
    raise SystemExit(f"unsupported store URL {url!r}")


def make_manager(
    store: SessionStore, node_id: str, framework: StubFramework | None = None
) -> SessionManager:
    return SessionManager(
        framework=framework or StubFramework(),
        strategy="persisted",
        store=store,
        lifecycle=LifecyclePolicy(sweep_interval=None),
        agents=[DEFINITION],
        node_id=node_id,
    )


def turn(text: str, session: str, namespace: str) -> ExecuteAgentCommand:
    return ExecuteAgentCommand(
        agent_id=AGENT, session_id=session, principal=namespace, messages=[ChatMessage.user(text)]
    )


def echo_count(content: str) -> int:
    """``n`` of the stub's ``echo #n: text``."""
    assert content.startswith("echo #"), content
    return int(content[len("echo #") : content.index(":")])


def wait_for_go() -> bool:
    emit("READY")
    return sys.stdin.readline().strip() == "GO"


async def run_crash(args: argparse.Namespace) -> None:
    manager = make_manager(store_from_url(args.store), f"crash-{args.round}")
    deadline = time.monotonic() + args.max_seconds

    async def session_loop(session: str) -> None:
        for i in range(args.max_turns):
            if time.monotonic() > deadline:
                return
            text = f"{args.round}.{i}"
            result = await manager.execute(turn(text, session, args.namespace))
            emit("ACK", session, text, echo_count(result.messages[-1].text))

    try:
        await asyncio.gather(*(session_loop(s) for s in args.sessions.split(",")))
    finally:
        await manager.aclose()
    emit("DONE")


async def run_turns(args: argparse.Namespace) -> None:
    """Each session's turns in order, all sessions at once; a refused turn is retried."""
    rng = random.Random(args.seed)
    manager = make_manager(
        store_from_url(args.store),
        f"worker-{args.tag}",
        StubFramework() if not args.latency else _LatentStub(args.latency),
    )
    deadline = time.monotonic() + args.max_seconds
    acked: dict[str, list[tuple[str, int]]] = {}
    errors: list[str] = []
    retries = 0
    events: Counter[str] = Counter()

    async def session_loop(session: str) -> None:
        nonlocal retries
        done = acked.setdefault(session, [])
        for i in range(args.turns):
            text = f"{args.tag}.{i}"
            for _attempt in range(args.max_attempts):
                if time.monotonic() > deadline:
                    errors.append(f"{session}: out of time at turn {i}")
                    return
                try:
                    result = await manager.execute(turn(text, session, args.namespace))
                except LeaseLost:
                    retries += 1
                    await asyncio.sleep(rng.uniform(0, args.backoff))
                    continue
                except Exception as exc:
                    errors.append(f"{session}: {exc!r}")
                    return
                events[result.instance_event] += 1
                done.append((text, echo_count(result.messages[-1].text)))
                break
            else:
                errors.append(f"{session}: turn {i} refused {args.max_attempts} times")
                return

    try:
        await asyncio.gather(*(session_loop(s) for s in args.sessions.split(",")))
    finally:
        try:
            await manager.aclose()
        except Exception as exc:
            errors.append(f"aclose: {exc!r}")
    result = {"acked": acked, "errors": errors, "retries": retries, "events": dict(events)}
    emit("RESULT", json.dumps(result))


class _LatentStub(StubFramework):
    def __init__(self, latency: float) -> None:
        self.latency = latency

    def create_agent_factory(self, settings: Any) -> StubFactory:
        return StubFactory(StubSettings(invoke_latency=self.latency))


class _GatedAgent(StubAgent):
    """A stub agent whose turn on a message containing ``gate`` stops, inside the adapter (after
    the manager checked the lease), until the parent sends ``GO``."""

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        if any("gate" in m.text for m in request.messages):
            emit("INSIDE")
            line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            if line.strip() != "GO":
                raise SystemExit("the parent went away")
        return await super().ainvoke(request)


class _GatedFactory(StubFactory):
    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        agent = _GatedAgent(request.key, request, self)
        self.instances.append(agent)
        return agent


class _GatedStub(StubFramework):
    def create_agent_factory(self, settings: Any) -> StubFactory:
        return _GatedFactory(StubSettings())


async def run_fence(args: argparse.Namespace) -> None:
    store = store_from_url(args.store)
    manager = make_manager(store, args.node_id, _GatedStub())
    key = SessionKey(AGENT, args.session, args.namespace)
    try:
        try:
            result = await manager.execute(turn("stale gate", args.session, args.namespace))
        except LeaseLost as exc:
            stale_epoch = exc.epoch
            emit("LEASELOST", stale_epoch)
        else:
            emit("ACCEPTED", echo_count(result.messages[-1].text))
            return
        # Writes with the stale lease, straight through the store: each names the right next
        # turn number, so only the epoch can refuse them.
        accepted = refused = 0
        stale = Lease(key, stale_epoch, args.node_id)
        for i in range(args.probes):
            record = await store.get(key)
            assert record is not None
            write = TurnWrite(
                record.turn_count + 1,
                [ChatMessage.user(f"stale direct {i}"), ChatMessage.assistant("stale")],
                time.time(),
                0.0,
            )
            attempts = (
                store.append_turn(stale, write),
                store.save_snapshot(stale, record.turn_count, {"version": 1}),
                store.check(stale),
            )
            for attempt in attempts:
                try:
                    await attempt
                except LeaseLost:
                    refused += 1
                else:
                    accepted += 1
        emit("STALE", accepted, refused)
        # The turn, retried, runs on the reloaded session.
        result = await manager.execute(turn("retry", args.session, args.namespace))
        emit("ACK", result.instance_event, echo_count(result.messages[-1].text))
    finally:
        await manager.aclose()


def run_zygote(args: argparse.Namespace) -> None:
    if args.store.startswith(("postgresql:", "postgres:")):  # imported once, before the forks
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401

        import sessionful.stores.postgres  # noqa: F401
    emit("READY")
    for _ in range(args.max_forks):
        command = sys.stdin.readline().split()
        if not command or command[0] != "FORK":
            return
        args.round, args.sessions = int(command[1]), command[2]
        pid = os.fork()
        if pid == 0:  # the child: run turns until killed
            code = 0
            try:
                with open(os.devnull, "rb") as devnull:
                    os.dup2(devnull.fileno(), 0)
                asyncio.run(run_crash(args))
            except BaseException as exc:
                sys.stderr.write(f"crash child failed: {exc!r}\n")
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        emit("PID", pid)
        sys.stdin.readline()  # KILL, or EOF when the parent went away: kill it either way
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        emit("EXIT", pid, os.waitstatus_to_exitcode(status))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="workers.py")
    parser.add_argument("mode", choices=("crash", "zygote", "turns", "fence"))
    parser.add_argument("--store", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--sessions", default="s0")
    parser.add_argument("--session", default="s0")
    parser.add_argument("--round", type=int, default=0)
    parser.add_argument("--tag", default="w0")
    parser.add_argument("--node-id", default="fence")
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--max-turns", type=int, default=100_000)
    parser.add_argument("--max-attempts", type=int, default=500)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--backoff", type=float, default=0.005)
    parser.add_argument("--probes", type=int, default=3)
    parser.add_argument("--max-forks", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.mode == "fence":
        asyncio.run(run_fence(args))
        return
    if args.mode == "zygote":
        run_zygote(args)
        return
    if not wait_for_go():
        return  # the parent closed our stdin: leave without touching the store
    asyncio.run(run_crash(args) if args.mode == "crash" else run_turns(args))


# -- the parent side ------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The children load no entry-point plugins (they pass the stub framework object), so they
    start in about half a second."""
    env = dict(os.environ)
    env["SESSIONFUL_LOAD_PLUGINS"] = ""
    env.setdefault("PYTHONHASHSEED", "0")
    return env


class Child:
    """A worker process: stdin and stdout are pipes, stderr goes to a file. Use it as a context
    manager: on exit a live child is killed, its pipes are closed and it is reaped."""

    def __init__(self, mode: str, *args: str, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self._stderr: IO[bytes] = open(stderr_path, "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), mode, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=ROOT,
            env=child_env(),
            start_new_session=True,  # its own process group: close() ends a zygote's child too
        )
        self.lines: list[str] = []
        """The stdout lines read so far (``finish`` reads the rest)."""
        self._pending = b""

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_line(self, timeout: float) -> str:
        """The next stdout line, waiting at most ``timeout`` seconds; '' at EOF."""
        stdout = self.proc.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            ready, _, _ = select.select([stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"no output within {timeout} s; stderr: {self.stderr()}")
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                return ""
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        text = line.decode() + "\n"
        self.lines.append(text)
        return text

    def expect(self, prefix: str, timeout: float = 30.0) -> str:
        """Read lines until one starts with ``prefix`` (bounded by ``timeout`` overall)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.0, deadline - time.monotonic()))
            if not line:
                raise AssertionError(
                    f"the child exited before printing {prefix!r}; stderr: {self.stderr()}"
                )
            if line.startswith(prefix):
                return line.strip()

    def send(self, line: str) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(line.encode() + b"\n")
        stdin.flush()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)

    def finish(self, timeout: float = 60.0) -> str:
        """Close stdin, wait for the exit, return all of stdout."""
        out, _ = self.proc.communicate(timeout=timeout)
        self.lines.extend((self._pending + out).decode().splitlines(keepends=True))
        self._pending = b""
        return self.output

    @property
    def output(self) -> str:
        """Everything read from stdout so far."""
        return "".join(self.lines)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        """Kill the child (and its process group) if it still runs, reap it, close the pipes."""
        if self.proc.poll() is None:  # the group leader lives, so the group id is still ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.kill()
        with contextlib.suppress(Exception):
            self.proc.communicate(timeout=30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(Exception):
                    pipe.close()
        self._stderr.close()


POSTGRES_ENV = "SESSIONFUL_TEST_POSTGRES_DSN"


def postgres_url(request: Any) -> str:
    """The test server's URL, from conftest's ``postgres_dsn`` fixture when there is one, else
    from ``SESSIONFUL_TEST_POSTGRES_DSN``; skips (with the reason) without a server or
    without the postgres store."""
    import pytest

    try:
        dsn = request.getfixturevalue("postgres_dsn")
    except pytest.FixtureLookupError:
        dsn = os.environ.get(POSTGRES_ENV)
    if not dsn:
        pytest.skip(f"POSTGRES TESTS SKIPPED: no server ({POSTGRES_ENV} is not set)")
    try:
        from sessionful.stores.postgres import PostgresStore  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"POSTGRES TESTS SKIPPED: the postgres store is not importable: {exc!r}")
    return str(dsn)


async def drop_namespace(store: SessionStore, namespace: str) -> None:
    """Delete every session of ``namespace`` (a shared Postgres database outlives the test)."""
    for _ in range(1000):
        records = await store.list_sessions(namespace=namespace, limit=100)
        if not records:
            return
        for record in records:
            await store.delete(record.key)


def check_log(history: Sequence[ChatMessage]) -> list[str]:
    """The user texts of a stub session's log, after checking that it alternates user and
    assistant and that the k-th reply is ``echo #k`` of the k-th user message: a forked history
    would repeat a count, a lost or duplicated turn would break the sequence."""
    assert len(history) % 2 == 0, f"odd log of {len(history)} messages"
    texts: list[str] = []
    for k in range(len(history) // 2):
        user, reply = history[2 * k], history[2 * k + 1]
        assert (user.role, reply.role) == ("user", "assistant"), (k, user, reply)
        assert reply.text == f"echo #{k + 1}: {user.text}", (k, user, reply)
        texts.append(user.text)
    twice = [text for text, count in Counter(texts).items() if count > 1]
    assert not twice, f"turns logged twice: {twice}"
    return texts


if __name__ == "__main__":
    main()
