"""The OpenAI Agents SDK adapter's figures (issue 14, item 8), the ``chat`` template on the
adapter's offline model: a turn through sessionful (``per_session``, and ``persisted`` on SQLite)
vs ``Runner.run`` with the SDK's ``SQLiteSession`` (in memory, and on a file with its defaults),
and a new session's first turn vs a reused session's at equal history length."""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from agents import Agent, RunConfig, Runner, SQLiteSession

from benchmarks._measure import Interleaved, interleave, median, ms, table, times, us, verdict
from benchmarks._runner import Context, section
from sessionful import AgentDefinition, ChatMessage, ExecuteAgentCommand, SessionKey, SessionManager
from sessionful_openai_agents import (
    BuildContext,
    OpenAIAgentsInstance,
    OpenAIAgentsSettings,
    build_chat,
    resolve_model,
)

__all__: list[str] = []

AGENT = AgentDefinition(id="bench-chat", name="Chat benchmark", template_id="chat")
HISTORIES = (20, 100)
"""Turns per session: both sides of a comparison run sessions of this many turns in lockstep (a
``SQLiteSession`` reads the whole history back on every run, so the ratio depends on it)."""
MEMORY_TARGET = 1.05
"""per_session (items in memory): at most this many times ``SQLiteSession(":memory:")``'s turn."""
FILE_TARGET = 0.7
"""persisted on SQLite: at most this fraction of the file-backed ``SQLiteSession``'s turn."""
FIRST_TARGET = 1.2
"""A new session's first turn: at most this many times a reused session's turn."""


def _text(turn: int) -> str:
    return f"Please note item number {turn} for later."


def _manager(strategy: str, store: str | None = None) -> SessionManager:
    return SessionManager(framework="openai-agents", strategy=strategy, store=store, agents=[AGENT])


def _agent() -> Agent[Any]:
    """The ``chat`` template's agent built by hand, as an SDK user would: the same builder and
    offline model as the adapter's."""
    return build_chat(BuildContext(configuration={}, model=resolve_model({})))


def _contents(items: list[Any]) -> list[tuple[object, str]]:
    """What a conversation said: each message item's role and text (ids and statuses aside)."""
    out: list[tuple[object, str]] = []
    for item in items:
        content = item.get("content")
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        out.append((item.get("role"), str(content)))
    return out


class _Cursor:
    """Positions ``(session, turn)`` in order: session 0's turns, then session 1's, ...; each side
    of a comparison has its own, so its k-th call has the other side's k-th call's history."""

    __slots__ = ("session", "turn", "turns")

    def __init__(self, turns: int) -> None:
        self.turns = turns
        self.session = 0
        self.turn = 0

    def next(self) -> tuple[int, int]:
        position = (self.session, self.turn)
        self.turn += 1
        if self.turn == self.turns:
            self.turn = 0
            self.session += 1
        return position

    @property
    def last(self) -> int:
        """The last session started."""
        return self.session - (self.turn == 0)


def _sdk_turns(
    manager: SessionManager, prefix: str, turns: int
) -> tuple[Callable[[], Awaitable[object]], _Cursor]:
    """One turn through ``manager.execute`` per call (the command built in the call, as a
    server builds it from a request)."""
    cursor = _Cursor(turns)

    async def turn() -> object:
        session, t = cursor.next()
        return await manager.execute(
            ExecuteAgentCommand(
                agent_id=AGENT.id,
                session_id=f"{prefix}{session}",
                messages=[ChatMessage.user(_text(t))],
            )
        )

    return turn, cursor


def _runner_turns(
    agent: Agent[Any], db_path: str, prefix: str, turns: int
) -> tuple[Callable[[], Awaitable[object]], _Cursor, dict[int, SQLiteSession]]:
    """``Runner.run(agent, text, session=SQLiteSession(...))`` per call: one ``SQLiteSession``
    per conversation (made on its first turn, kept for the next), with the SDK's defaults; the
    run config and bound on model calls are the adapter's (tracing off, ``max_turns`` 10)."""
    cursor = _Cursor(turns)
    sessions: dict[int, SQLiteSession] = {}
    config = RunConfig(tracing_disabled=True)
    max_turns = OpenAIAgentsSettings().max_turns

    async def turn() -> object:
        session, t = cursor.next()
        sdk_session = sessions.get(session)
        if sdk_session is None:
            sdk_session = sessions[session] = SQLiteSession(f"{prefix}{session}", db_path)
        return await Runner.run(
            agent, _text(t), session=sdk_session, max_turns=max_turns, run_config=config
        )

    return turn, cursor, sessions


async def _run(turn: Callable[[], Awaitable[object]], calls: int) -> None:
    for _ in range(calls):
        await turn()


# -- 1. a turn: sessionful vs Runner.run with SQLiteSession --------------------------------------


@dataclass
class _TurnRow:
    ours: str
    theirs: str
    turns: int
    target: float
    timings: Interleaved
    same: bool


async def _items_of(manager: SessionManager, session_id: str) -> list[Any]:
    instance = cast(OpenAIAgentsInstance, manager.get_agent(SessionKey(AGENT.id, session_id)))
    return list(await instance.session.get_items())


async def _turn_row(
    ctx: Context,
    ours: str,
    theirs: str,
    target: float,
    manager: SessionManager,
    db_path: str,
    turns: int,
    sessions_per_batch: int,
    batches: int,
) -> _TurnRow:
    run = os.urandom(3).hex()
    agent = _agent()
    async with manager:
        # Warm both sides with one whole session each (the agent is built, paths run once).
        warm_sdk, _ = _sdk_turns(manager, f"warm-{run}-", turns)
        warm_runner, _, warm_sessions = _runner_turns(agent, db_path, f"warm-{run}-", turns)
        await _run(warm_sdk, turns)
        await _run(warm_runner, turns)
        sdk, cursor = _sdk_turns(manager, f"sdk-{run}-", turns)
        runner, _, sessions = _runner_turns(agent, db_path, f"runner-{run}-", turns)
        timings = await interleave(
            sdk,
            runner,
            batches=batches,
            per_batch=sessions_per_batch * turns,
            progress=ctx.progress(f"{ours} vs {theirs}, {turns} turns: batch pairs", batches),
        )
        last = cursor.last
        mine = await _items_of(manager, f"sdk-{run}-{last}")
        their = await sessions[last].get_items()
        same = len(mine) > 0 and _contents(mine) == _contents(their)
    for s in (*sessions.values(), *warm_sessions.values()):
        s.close()
    return _TurnRow(ours, theirs, turns, target, timings, same)


def _against(ratio: float, target: float, op: str = "\N{LESS-THAN OR EQUAL TO}") -> tuple[str, ...]:
    return (times(ratio, 3), f"{op} {times(target, 2)}", verdict(ratio <= target))


@section("openai-agents.turn", "OpenAI Agents: a turn through sessionful vs Runner.run")
def turn(ctx: Context) -> str:
    # (turns per session, sessions per batch, batch pairs)
    sizes = ((20, 1, 2), (100, 1, 2)) if ctx.quick else ((20, 2, 10), (100, 1, 4))

    async def run() -> list[_TurnRow]:
        rows = []
        with tempfile.TemporaryDirectory() as directory:
            store = f"sqlite:///{os.path.join(directory, 'sessions.db')}"
            for turns, sessions_per_batch, batches in sizes:
                rows.append(
                    await _turn_row(
                        ctx,
                        "per_session (items in memory)",
                        'SQLiteSession(id) (":memory:")',
                        MEMORY_TARGET,
                        _manager("per_session"),
                        ":memory:",
                        turns,
                        sessions_per_batch,
                        batches,
                    )
                )
                rows.append(
                    await _turn_row(
                        ctx,
                        "persisted, SQLite file",
                        "SQLiteSession(id, file) (its defaults)",
                        FILE_TARGET,
                        _manager("persisted", store),
                        os.path.join(directory, "agents.db"),
                        turns,
                        sessions_per_batch,
                        batches,
                    )
                )
        return rows

    rows = asyncio.run(run())
    assert all(r.same for r in rows), "the two sides' conversations differ"
    numbers = table(
        [
            "sessionful",
            "`Runner.run` with",
            "turns per session",
            "turns timed",
            "sessionful (median)",
            "SDK alone (median)",
            "sessionful ÷ SDK",
            "target",
            "verdict",
        ],
        [
            (
                r.ours,
                f"`{r.theirs}`",
                r.turns,
                f"{len(r.timings.a):,}",
                ms(median(r.timings.a)),
                ms(median(r.timings.b)),
                *_against(median(r.timings.a) / median(r.timings.b), r.target),
            )
            for r in rows
        ],
        "llrrrrrrc",
    )
    return f"""## OpenAI Agents: a turn through sessionful vs Runner.run

The `chat` template on the adapter's offline model, the same `Agent` on both sides (the template's
builder, called once). **sessionful**: `await manager.execute(command)` with the adapter's
defaults: under `per_session` the session's items stay in the instance and each turn appends what
it produced to the factory's in-process store; under `persisted` they are appended to the
manager's SQLite file (`synchronous=FULL`), fenced by the session's lease, with the turn
acknowledged in the session record. **SDK alone**: `Runner.run(agent, text, session=...)` with
one `SQLiteSession` per conversation and the SDK's defaults, `SQLiteSession(id)` (an in-memory
database: the same durability as `per_session`) and `SQLiteSession(id, file)` (a file, as durable
as `persisted`, with SQLite's defaults); both sides run with the adapter's run config (tracing
off, `max_turns` 10). Sessions of {" or ".join(str(n) for n in HISTORIES)} turns in lockstep on
both sides, so each turn has the same history (a `chat` turn adds two items; the last session's
conversation checked to be the same); timed call by call in alternating batches, in one run.

{numbers}
"""


# -- 2. first turn of a new session vs a reused one ----------------------------------------------


@dataclass
class _FirstRow:
    strategy: str
    timings: Interleaved


async def _first_row(
    ctx: Context, strategy: str, manager: SessionManager, batches: int, per_batch: int
) -> _FirstRow:
    counter = itertools.count()
    async with manager:
        for i in range(3):  # warm: the agent is built, both paths run
            await manager.open_session(AGENT.id, f"warm-open-{i}")
            for session in (f"warm-{i}", f"warm-open-{i}"):
                await manager.execute(
                    ExecuteAgentCommand(
                        agent_id=AGENT.id,
                        session_id=session,
                        messages=[ChatMessage.user(_text(0))],
                    )
                )
        opened: list[str] = []

        async def open_batch() -> None:
            for _ in range(per_batch):
                session = f"open-{next(counter)}"
                await manager.open_session(AGENT.id, session)
                opened.append(session)

        async def first() -> object:
            return await manager.execute(
                ExecuteAgentCommand(
                    agent_id=AGENT.id,
                    session_id=f"new-{next(counter)}",
                    messages=[ChatMessage.user(_text(0))],
                )
            )

        async def reused() -> object:
            return await manager.execute(
                ExecuteAgentCommand(
                    agent_id=AGENT.id,
                    session_id=opened.pop(),
                    messages=[ChatMessage.user(_text(0))],
                )
            )

        timings = Interleaved()
        progress = ctx.progress(f"{strategy}: batch pairs", batches)
        for i in range(batches):
            await open_batch()  # sessions for the reused side, opened outside the timings
            pair = ((first, timings.a), (reused, timings.b))
            for op, out in pair if i % 2 == 0 else pair[::-1]:
                for _ in range(per_batch):
                    t0 = time.perf_counter_ns()
                    await op()
                    out.append(time.perf_counter_ns() - t0)
            progress.update(i + 1)
        progress.close()
    return _FirstRow(strategy, timings)


@section("openai-agents.first-turn", "OpenAI Agents: first turn of a new session vs a reused one")
def first_turn(ctx: Context) -> str:
    batches, per_batch = (2, 10) if ctx.quick else (20, 50)

    async def run() -> list[_FirstRow]:
        with tempfile.TemporaryDirectory() as directory:
            store = f"sqlite:///{os.path.join(directory, 'sessions.db')}"
            return [
                await _first_row(ctx, "per_session", _manager("per_session"), batches, per_batch),
                await _first_row(
                    ctx, "persisted, SQLite file", _manager("persisted", store), batches, per_batch
                ),
            ]

    rows = asyncio.run(run())
    numbers = table(
        [
            "strategy",
            "turns each",
            "first (median)",
            "reused (median)",
            "first ÷ reused",
            "target",
            "verdict",
        ],
        [
            (
                r.strategy,
                f"{len(r.timings.a):,}",
                us(median(r.timings.a)),
                us(median(r.timings.b)),
                *_against(median(r.timings.a) / median(r.timings.b), FIRST_TARGET),
            )
            for r in rows
        ],
        "lrrrrrc",
    )
    return f"""## OpenAI Agents: first turn of a new session vs a reused one

`await manager.execute(command)` with the `chat` template on the offline model, the agent
already built (warm-up sessions ran first). **First**: the first turn of a session nobody has
seen, which creates its instance (under `persisted` also its record in the store, claimed with a
lease) and runs the turn. **Reused**: the first turn of a session whose instance is already live
(made by `manager.open_session` outside the timings), so both sides run the same turn on the same
history (none) and differ by creation alone. Timed call by call in alternating batches, in one
run.

{numbers}
"""
