"""The LangGraph adapter's figures (issue 3, item 9), both built-in templates on the offline model:
the first turn of a session vs a reused one, reuse vs building the agent per execution, the SDK's
cost on top of the compiled graph, the default settings vs idiomatic LangGraph with a
checkpointer, and the memory a session's state holds vs ``InMemorySaver``."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import linecache
import os
import sys
import tempfile
import tracemalloc
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph

from benchmarks._measure import Interleaved, interleave, median, ms, table, times, us, verdict
from benchmarks._runner import Context, Progress, section
from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    SessionKey,
    SessionManager,
)
from sessionful_langgraph import (
    BuildContext,
    LangGraphAgent,
    LangGraphFactory,
    LangGraphSettings,
    build_chat,
    build_tool_agent,
    resolve_model,
)

__all__: list[str] = []

Graph = CompiledStateGraph[Any, Any, Any, Any]

TEMPLATES = ("chat", "tool-agent")
AGENTS: Mapping[str, AgentDefinition] = {
    "chat": AgentDefinition(id="bench-chat", name="Chat benchmark", template_id="chat"),
    "tool-agent": AgentDefinition(
        id="bench-tools", name="Tool-agent benchmark", template_id="tool-agent"
    ),
}
BUILDERS: Mapping[str, Callable[[BuildContext], Any]] = {
    "chat": build_chat,
    "tool-agent": build_tool_agent,
}

FIRST_TARGET = 1.2
"""First turn of a new session: at most this many times a reused session's turn."""
OVERHEAD_TARGET = 1.05
"""A turn through sessionful: at most this many times the compiled graph invoked directly."""
IDIOMATIC_TARGET = 0.7
"""sessionful' default settings: at most this fraction of idiomatic LangGraph's turn."""
MEMORY_TARGET = 1 / 5
"""What per_session holds: at most this fraction of what InMemorySaver retains."""
RESIDUE_TARGET = 0.01
"""After every session ended: what stays is at most this fraction of what the sessions held."""
SESSION_TURNS = 20
"""Turns per session where history length matters (sections 2 to 5)."""


def _text(template: str, turn: int) -> str:
    """The user's message on ``turn``: a tool-agent turn always asks about an order, so every
    tool-agent turn runs the whole loop (model, ``order_status``, model: four messages)."""
    if template == "tool-agent":
        return f"What's the status of order A-{1000 + turn}?"
    return f"Please note item number {turn} for later."


def _texts(template: str, turns: int) -> list[str]:
    return [_text(template, t) for t in range(turns)]


def _manager(template: str, settings: dict[str, Any] | None = None) -> SessionManager:
    """A per-session manager with the default lifecycle and the given framework settings."""
    return SessionManager(
        framework="langgraph",
        strategy="per_session",
        framework_settings=settings,
        agents=[AGENTS[template]],
    )


def _compiles(manager: SessionManager) -> int:
    return cast(LangGraphFactory, manager._factory).compiles


def _graph(template: str, checkpointer: BaseCheckpointSaver[Any] | None = None) -> Graph:
    """The template's graph built and compiled by hand, as a LangGraph user would."""
    context = BuildContext(configuration={}, model=resolve_model({}))
    graph: Graph = BUILDERS[template](context).compile(checkpointer=checkpointer)
    return graph


class _Cursor:
    """Positions ``(session, turn)`` in order: session 0's turns 0 .. L-1, then session 1's, ...

    Each side of a comparison has its own cursor, so its k-th call is at the same position as
    the other side's k-th call: equal history, side by side."""

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
    def sessions(self) -> int:
        """Sessions started so far."""
        return self.session + (self.turn > 0)


def _sdk_turns(
    manager: SessionManager, template: str, turns: int, prefix: str
) -> tuple[Callable[[], Awaitable[object]], _Cursor]:
    """One turn through ``manager.execute`` per call, sessions of ``turns`` turns in a row (the
    command is built in the call, as a server builds it from a request)."""
    agent_id = AGENTS[template].id
    texts = _texts(template, turns)
    cursor = _Cursor(turns)

    async def turn() -> object:
        session, t = cursor.next()
        return await manager.execute(
            ExecuteAgentCommand(
                agent_id=agent_id,
                session_id=f"{prefix}{session}",
                messages=[ChatMessage.user(texts[t])],
            )
        )

    return turn, cursor


def _direct_turns(
    graph: Graph, template: str, turns: int, prefix: str
) -> tuple[Callable[[], Awaitable[object]], _Cursor, dict[int, list[BaseMessage]]]:
    """One turn on the compiled graph without a checkpointer per call; the caller holds each
    session's messages and passes them back in, as the adapter's default mode does (with the
    adapter's default recursion limit)."""
    recursion_limit = LangGraphSettings().recursion_limit
    texts = _texts(template, turns)
    cursor = _Cursor(turns)
    held: dict[int, list[BaseMessage]] = {}

    async def turn() -> object:
        session, t = cursor.next()
        prior = held.get(session, [])
        config: Any = {
            "configurable": {"thread_id": f"{prefix}{session}"},
            "recursion_limit": recursion_limit,
        }
        state = await graph.ainvoke({"messages": [*prior, HumanMessage(texts[t])]}, config)
        messages: list[BaseMessage] = state["messages"]
        held[session] = messages
        return messages[len(prior) + 1 :]

    return turn, cursor, held


def _idiomatic_turns(
    graph: Graph, template: str, turns: int, prefix: str
) -> tuple[Callable[[], Awaitable[object]], _Cursor]:
    """Idiomatic LangGraph: the checkpointer holds the thread, the caller sends only the new
    message; LangGraph's default durability and recursion limit."""
    texts = _texts(template, turns)
    cursor = _Cursor(turns)

    async def turn() -> object:
        session, t = cursor.next()
        config: Any = {"configurable": {"thread_id": f"{prefix}{session}"}}
        return await graph.ainvoke({"messages": [HumanMessage(texts[t])]}, config)

    return turn, cursor


async def _run_sessions(turn: Callable[[], Awaitable[object]], sessions: int, turns: int) -> None:
    for _ in range(sessions * turns):
        await turn()


def _contents(messages: list[BaseMessage]) -> list[str]:
    return [str(m.content) for m in messages]


def _sdk_contents(manager: SessionManager, template: str, session_id: str) -> list[str]:
    """A ``per_session`` session's messages, read from the adapter's own in-memory saver."""
    instance = cast(LangGraphAgent, manager.get_agent(SessionKey(AGENTS[template].id, session_id)))
    state = instance.graph.get_state(instance._thread_config())
    return _contents(state.values["messages"])


def _against(ratio: float, target: float) -> tuple[str, str, str]:
    """Table cells: the ratio, its target, the verdict."""
    return (
        times(ratio, 3),
        f"\N{LESS-THAN OR EQUAL TO} {times(target, 2)}",
        verdict(ratio <= target),
    )


# -- 1. first turn of a new session vs a reused session ----------------------------------------


@dataclass
class _FirstRow:
    template: str
    timings: Interleaved
    compiles_during: int
    graphs: int
    per_turn: int
    """Messages one turn adds to the history."""


async def _first_row(ctx: Context, template: str, batches: int, per_batch: int) -> _FirstRow:
    manager = _manager(template)
    agent_id = AGENTS[template].id
    first_text, second_text = _text(template, 0), _text(template, 1)
    async with manager:
        # Warm: the template compiles here, and every code path runs once, before any timing.
        for i in range(3):
            for text in (first_text, second_text):
                await manager.execute(
                    ExecuteAgentCommand(
                        agent_id=agent_id,
                        session_id=f"warm-{i}",
                        messages=[ChatMessage.user(text)],
                    )
                )
        compiled_before = _compiles(manager)
        per_turn = len(_sdk_contents(manager, template, "warm-0")) // 2
        one_turn: deque[str] = deque()  # sessions with exactly one turn, oldest first
        counter = itertools.count()

        async def first() -> object:
            session_id = f"s-{next(counter)}"
            result = await manager.execute(
                ExecuteAgentCommand(
                    agent_id=agent_id,
                    session_id=session_id,
                    messages=[ChatMessage.user(first_text)],
                )
            )
            one_turn.append(session_id)
            return result

        async def reused() -> object:
            return await manager.execute(
                ExecuteAgentCommand(
                    agent_id=agent_id,
                    session_id=one_turn.popleft(),
                    messages=[ChatMessage.user(second_text)],
                )
            )

        # Sessions for the reused side's first batch (every other batch runs it first).
        for _ in range(per_batch):
            await first()
        timings = await interleave(
            first,
            reused,
            batches=batches,
            per_batch=per_batch,
            progress=ctx.progress(f"{template}: batch pairs", batches),
        )
        compiles_during = _compiles(manager) - compiled_before
        graphs = len(
            {id(cast(LangGraphAgent, manager.get_agent(k)).graph) for k in manager.list_agents()}
        )
    assert timings.a and len(timings.a) == len(timings.b)
    return _FirstRow(template, timings, compiles_during, graphs, per_turn)


@section("langgraph.first-turn", "LangGraph: first turn of a new session vs a reused session")
def first_turn(ctx: Context) -> str:
    sizes = (
        {"chat": (4, 25), "tool-agent": (4, 10)}
        if ctx.quick
        else {
            "chat": (20, 100),
            "tool-agent": (20, 40),
        }
    )

    async def run() -> list[_FirstRow]:
        return [await _first_row(ctx, t, *sizes[t]) for t in TEMPLATES]

    rows = asyncio.run(run())
    history = "; ".join(f"`{r.template}`: {r.per_turn} messages" for r in rows)
    numbers = table(
        [
            "template",
            "turns each",
            "first (median)",
            "reused (median)",
            "first ÷ reused",
            "target",
            "verdict",
            "compiles while timed",
            "compiled graphs",
        ],
        [
            (
                f"`{r.template}`",
                f"{len(r.timings.a):,}",
                us(median(r.timings.a)),
                us(median(r.timings.b)),
                *_against(median(r.timings.a) / median(r.timings.b), FIRST_TARGET),
                r.compiles_during,
                r.graphs,
            )
            for r in rows
        ],
        "lrrrrrcrr",
    )
    return f"""## LangGraph: first turn of a new session vs a reused session

`await manager.execute(command)` under `per_session` with the adapter's default settings, on the
offline model, the template already compiled (a few warm-up sessions ran first). **First**: the
first turn of a fresh session, which creates its instance (`AgentCreateRequest`,
`create_agent`, registry entry) over the cached compiled graph. **Reused**: the second turn of a
session that has had exactly one, so the two sides differ by creation and one turn of history
({history}; every tool-agent turn asks about an order and runs model → `order_status` →
model). Both are timed call by call, in alternating batches in one run (each reused turn goes to
a session a first turn made). *Compiles while timed* counts the factory's compilations over the
timed calls; *compiled graphs* counts the distinct compiled graphs behind all the live sessions
at the end.

{numbers}
"""


# -- 2. reused session vs building the agent for every execution -------------------------------


@dataclass
class _NaiveRow:
    template: str
    timings: Interleaved
    same: bool


def _naive_turns(
    template: str, turns: int, prefix: str
) -> tuple[Callable[[], Awaitable[object]], _Cursor, dict[int, list[BaseMessage]]]:
    """The pattern sessionful replaces, one turn per call: model, tools, graph and compile
    on every execution; the caller keeps the conversation and passes it in (or the agent would
    forget it)."""
    configuration: dict[str, Any] = dict(AGENTS[template].configuration)
    builder = BUILDERS[template]
    texts = _texts(template, turns)
    cursor = _Cursor(turns)
    held: dict[int, list[BaseMessage]] = {}

    async def turn() -> object:
        session, t = cursor.next()
        prior = held.get(session, [])
        context = BuildContext(configuration=configuration, model=resolve_model(configuration))
        graph = builder(context).compile()
        config: Any = {"configurable": {"thread_id": f"{prefix}{session}"}}
        state = await graph.ainvoke({"messages": [*prior, HumanMessage(texts[t])]}, config)
        messages: list[BaseMessage] = state["messages"]
        held[session] = messages
        return messages[len(prior) + 1 :]

    return turn, cursor, held


async def _naive_row(ctx: Context, template: str, batches: int, per_batch: int) -> _NaiveRow:
    manager = _manager(template)
    async with manager:
        # Warm both sides with one whole session each (the SDK side's template compiles here).
        warm_sdk, _ = _sdk_turns(manager, template, SESSION_TURNS, "warm-")
        warm_naive, _, _ = _naive_turns(template, SESSION_TURNS, "warm-")
        await _run_sessions(warm_sdk, 1, SESSION_TURNS)
        await _run_sessions(warm_naive, 1, SESSION_TURNS)
        reused, cursor = _sdk_turns(manager, template, SESSION_TURNS, "sdk-")
        naive, naive_cursor, held = _naive_turns(template, SESSION_TURNS, "naive-")
        timings = await interleave(
            reused,
            naive,
            batches=batches,
            per_batch=per_batch,
            progress=ctx.progress(f"{template}: batch pairs", batches),
        )
        assert (cursor.session, cursor.turn) == (naive_cursor.session, naive_cursor.turn)
        same = all(
            _sdk_contents(manager, template, f"sdk-{s}") == _contents(held[s])
            for s in range(cursor.sessions)
        )
    return _NaiveRow(template, timings, same)


@section("langgraph.naive", "LangGraph: reused session vs building the agent per execution")
def naive(ctx: Context) -> str:
    sizes = (
        {"chat": (2, 20), "tool-agent": (2, 20)}
        if ctx.quick
        else {
            "chat": (10, 100),
            "tool-agent": (20, 30),
        }
    )

    async def run() -> list[_NaiveRow]:
        return [await _naive_row(ctx, t, *sizes[t]) for t in TEMPLATES]

    rows = asyncio.run(run())
    assert all(r.same for r in rows), "the two sides' conversations differ"
    numbers = table(
        [
            "template",
            "turns each",
            "reused (median)",
            "per execution (median)",
            "saved per turn",
            "per execution ÷ reused",
        ],
        [
            (
                f"`{r.template}`",
                f"{len(r.timings.a):,}",
                ms(median(r.timings.a)),
                ms(median(r.timings.b)),
                ms(median(r.timings.b) - median(r.timings.a)),
                times(median(r.timings.b) / median(r.timings.a), 2),
            )
            for r in rows
        ],
    )
    return f"""## LangGraph: reused session vs building the agent per execution

**Reused**: `await manager.execute(command)` under `per_session`, default settings: the session's
instance and the template's compiled graph are reused. **Per execution**: the naive pattern this
SDK replaces, on every turn: resolve the model, build the template's graph (for `tool-agent`:
resolve the tools, `bind_tools`, a `ToolNode`), `compile()`, then `ainvoke` with the
conversation so far, which the caller keeps (without it the agent would forget). Same template
builders, same offline model, sessions of {SESSION_TURNS} turns advanced in lockstep, so the k-th
turn on each side has the same history; timed call by call in alternating batches in one run.
The two sides' conversations were checked to be identical. The issue sets no target here: the
ratio is reported.

{numbers}
"""


# -- 3. the SDK's cost on top of the compiled graph ----------------------------------------------


@dataclass
class _OverheadRow:
    template: str
    timings: Interleaved
    sessions: int
    same: bool


async def _overhead_row(ctx: Context, template: str, batches: int, per_batch: int) -> _OverheadRow:
    manager = _manager(template)
    async with manager:
        warm_sdk, _ = _sdk_turns(manager, template, SESSION_TURNS, "warm-")
        await _run_sessions(warm_sdk, 1, SESSION_TURNS)
        instance = cast(
            LangGraphAgent, manager.get_agent(SessionKey(AGENTS[template].id, "warm-0"))
        )
        graph = instance.graph  # the very compiled graph the manager's sessions run on
        sdk, sdk_cursor = _sdk_turns(manager, template, SESSION_TURNS, "sdk-")
        direct, direct_cursor, held = _direct_turns(graph, template, SESSION_TURNS, "direct-")
        warm_direct, _, _ = _direct_turns(graph, template, SESSION_TURNS, "warm-")
        await _run_sessions(warm_direct, 1, SESSION_TURNS)
        timings = await interleave(
            sdk,
            direct,
            batches=batches,
            per_batch=per_batch,
            progress=ctx.progress(f"{template}: batch pairs", batches),
        )
        assert (sdk_cursor.session, sdk_cursor.turn) == (direct_cursor.session, direct_cursor.turn)
        same = all(
            _sdk_contents(manager, template, f"sdk-{s}") == _contents(held[s])
            for s in range(sdk_cursor.sessions)
        )
    return _OverheadRow(template, timings, sdk_cursor.sessions, same)


@section("langgraph.overhead", "LangGraph: a turn through sessionful vs the graph directly")
def overhead(ctx: Context) -> str:
    sizes = (
        {"chat": (4, 50), "tool-agent": (4, 20)}
        if ctx.quick
        else {
            "chat": (60, 100),
            "tool-agent": (60, 40),
        }
    )

    async def run() -> list[_OverheadRow]:
        return [await _overhead_row(ctx, t, *sizes[t]) for t in TEMPLATES]

    rows = asyncio.run(run())
    assert all(r.same for r in rows), "the two sides' conversations differ"
    numbers = table(
        [
            "template",
            "turns each",
            "sessionful (median)",
            "direct (median)",
            "difference",
            "sessionful ÷ direct",
            "target",
            "verdict",
        ],
        [
            (
                f"`{r.template}`",
                f"{len(r.timings.a):,} ({r.sessions} sessions)",
                us(median(r.timings.a)),
                us(median(r.timings.b)),
                us(median(r.timings.a) - median(r.timings.b)),
                *_against(median(r.timings.a) / median(r.timings.b), OVERHEAD_TARGET),
            )
            for r in rows
        ],
        "lrrrrrrc",
    )
    spread = "; ".join(
        f"`{r.template}`: {us(min(r.timings.batch_diffs))} to {us(max(r.timings.batch_diffs))}"
        f" (median {us(median(r.timings.batch_diffs))}, "
        f"{median(r.timings.batch_diffs) / median(r.timings.b):.1%} of the direct median)"
        for r in rows
    )
    return f"""## LangGraph: a turn through sessionful vs the compiled graph directly

**sessionful**: `await manager.execute(command)` under `per_session`, default settings (no
checkpointer: the instance holds the session's latest state). **Direct**: the very compiled
graph the manager's sessions run on, invoked the same way the adapter invokes it (no
checkpointer, same `thread_id` and `recursion_limit` config), the caller holding each session's
messages and passing them back in: `await graph.ainvoke({{"messages": [*held, HumanMessage(text)]}},
config)`. What the SDK adds is the command and its validation, the session lookup and turn gate,
`ChatMessage` ↔ langchain conversion, and the stats; each side builds its own input in the timed
call. Sessions of {SESSION_TURNS} turns advance in lockstep (the SDK side's first turn of each
session includes creating its instance), timed call by call in alternating batches in one run;
both sides' conversations were checked to be identical.

{numbers}

Per-batch differences of the medians, sessionful minus direct: {spread}.
"""


# -- 4. default settings vs idiomatic LangGraph ----------------------------------------------------


@dataclass
class _IdiomaticRow:
    template: str
    saver: str
    timings: Interleaved | None
    same: bool = True
    checkpoints_per_turn: float = 0.0
    """Checkpoints idiomatic LangGraph kept per turn (its last session's thread)."""


@asynccontextmanager
async def _sqlite_saver(directory: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(
        os.path.join(directory, "checkpoints.sqlite")
    ) as saver:
        yield saver


async def _idiomatic_row(
    ctx: Context,
    template: str,
    saver_name: str,
    saver: BaseCheckpointSaver[Any],
    sessions_per_batch: int,
    batches: int,
) -> _IdiomaticRow:
    per_batch = sessions_per_batch * SESSION_TURNS
    manager = _manager(template)
    async with manager:
        sdk, sdk_cursor = _sdk_turns(manager, template, SESSION_TURNS, "sdk-")
        graph = _graph(template, saver)
        idiomatic, _ = _idiomatic_turns(graph, template, SESSION_TURNS, "thread-")
        warm_sdk, _ = _sdk_turns(manager, template, SESSION_TURNS, "warm-")
        warm_idiomatic, _ = _idiomatic_turns(graph, template, SESSION_TURNS, "warm-")
        await _run_sessions(warm_sdk, 1, SESSION_TURNS)
        await _run_sessions(warm_idiomatic, 1, SESSION_TURNS)
        timings = await interleave(
            sdk,
            idiomatic,
            batches=batches,
            per_batch=per_batch,
            progress=ctx.progress(f"{template}, {saver_name}: batch pairs", batches),
        )
        last = sdk_cursor.sessions - 1
        checkpoint = await graph.aget_state({"configurable": {"thread_id": f"thread-{last}"}})
        same = _sdk_contents(manager, template, f"sdk-{last}") == _contents(
            checkpoint.values["messages"]
        )
        history = graph.aget_state_history({"configurable": {"thread_id": f"thread-{last}"}})
        checkpoints = len([c async for c in history])
    return _IdiomaticRow(template, saver_name, timings, same, checkpoints / SESSION_TURNS)


@section("langgraph.idiomatic", "LangGraph: sessionful' defaults vs idiomatic LangGraph")
def idiomatic(ctx: Context) -> str:
    # (sessions per batch, batches) by template and checkpointer: each batch runs whole sessions
    # of SESSION_TURNS turns. SQLite turns cost tens of ms (a commit per checkpoint): fewer.
    sizes: dict[tuple[str, str], tuple[int, int]] = {
        ("chat", "InMemorySaver"): (5, 10),
        ("tool-agent", "InMemorySaver"): (2, 10),
        ("chat", "AsyncSqliteSaver"): (1, 4),
        ("tool-agent", "AsyncSqliteSaver"): (1, 4),
    }
    if ctx.quick:
        sizes = dict.fromkeys(sizes, (1, 2))
    try:
        import langgraph.checkpoint.sqlite.aio  # noqa: F401

        sqlite = True
    except ImportError:
        sqlite = False

    async def run() -> list[_IdiomaticRow]:
        rows = []
        for template in TEMPLATES:
            rows.append(
                await _idiomatic_row(
                    ctx,
                    template,
                    "InMemorySaver",
                    InMemorySaver(),
                    *sizes[(template, "InMemorySaver")],
                )
            )
            if not sqlite:
                rows.append(_IdiomaticRow(template, "AsyncSqliteSaver", None))
                continue
            with tempfile.TemporaryDirectory() as directory:
                async with _sqlite_saver(directory) as saver:
                    rows.append(
                        await _idiomatic_row(
                            ctx,
                            template,
                            "AsyncSqliteSaver",
                            saver,
                            *sizes[(template, "AsyncSqliteSaver")],
                        )
                    )
        return rows

    rows = asyncio.run(run())
    assert all(r.same for r in rows), "the two sides' conversations differ"
    cells: list[tuple[object, ...]] = []
    for r in rows:
        if r.timings is None:
            missing = "not measured: needs `langgraph-checkpoint-sqlite` and `aiosqlite`"
            target = _against(0.0, IDIOMATIC_TARGET)[1]
            cells.append(
                (f"`{r.template}`", f"`{r.saver}`", missing, "", "", "", "", target, "n/a")
            )
            continue
        a, b = median(r.timings.a), median(r.timings.b)
        cells.append(
            (
                f"`{r.template}`",
                f"`{r.saver}`",
                f"{len(r.timings.a):,}",
                f"{r.checkpoints_per_turn:g}",
                ms(a),
                ms(b),
                *_against(a / b, IDIOMATIC_TARGET),
            )
        )
    numbers = table(
        [
            "template",
            "idiomatic checkpointer",
            "turns each",
            "idiomatic checkpoints per turn",
            "sessionful (median)",
            "idiomatic (median)",
            "sessionful ÷ idiomatic",
            "target",
            "verdict",
        ],
        cells,
        "llrrrrrrc",
    )
    return f"""## LangGraph: sessionful' default settings vs idiomatic LangGraph

**sessionful**: `await manager.execute(command)` under `per_session` with the adapter's
default settings: the instance holds the session's latest state and the graph runs without a
checkpointer, so nothing is serialised during a turn. **Idiomatic LangGraph**: the same template
builder and offline model, compiled once with a checkpointer (`InMemorySaver()`, or
`AsyncSqliteSaver` on a temporary file), one `thread_id` per session, the caller sending only the
new message, LangGraph's default durability (`"async"`: a checkpoint per step, each new version
of the `messages` channel stored whole). Sessions of {SESSION_TURNS} turns (every tool-agent
turn runs the tool loop) advance in lockstep on both sides, so history lengths are realistic and
equal; timed call by call in alternating batches of whole sessions, in one run; the last
session's conversation was checked to be the same on both sides, and its thread's checkpoints
counted (sessionful writes none). The SQLite rows compare a
durable store with state held in memory: that is the price a LangGraph user pays by default for
continuity across turns, which the `per_session` strategy keeps in memory instead.

{numbers}
"""


# -- 5. memory: per_session vs InMemorySaver ------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
KIB = 1024


_NOT_TRACEMALLOC = [tracemalloc.Filter(False, tracemalloc.__file__)]
"""Leaves out what tracemalloc allocates for its own snapshots."""


def _traced_total(snapshot: tracemalloc.Snapshot) -> int:
    traced = snapshot.filter_traces(_NOT_TRACEMALLOC)
    return sum(stat.size for stat in traced.statistics("filename"))


def _top_lines(
    after: tracemalloc.Snapshot, before: tracemalloc.Snapshot
) -> list[tuple[str, int, int]]:
    """The lines holding the most bytes in ``after`` that ``before`` did not: (file, line, size)."""
    diffs = after.filter_traces(_NOT_TRACEMALLOC).compare_to(
        before.filter_traces(_NOT_TRACEMALLOC), "lineno"
    )
    lines = [(d.traceback[0].filename, d.traceback[0].lineno, d.size_diff) for d in diffs]
    lines.sort(key=lambda item: -item[2])
    return lines[:5]


async def _held_per_session(template: str, sessions: int, bar: Progress) -> dict[str, Any]:
    """Bytes ``per_session`` (default settings) holds for ``sessions`` sessions of
    ``SESSION_TURNS`` turns, then what is left once every session has ended."""
    turns = SESSION_TURNS
    manager = _manager(template)
    agent_id = AGENTS[template].id
    async with manager:
        warm, _ = _sdk_turns(manager, template, turns, "warm-")
        await _run_sessions(warm, 2, turns)
        for i in range(2):
            await manager.end_session(agent_id, f"warm-{i}")
        sdk, _ = _sdk_turns(manager, template, turns, "s-")
        gc.collect()
        tracemalloc.start(1)
        baseline = tracemalloc.take_snapshot()
        for i in range(sessions):
            await _run_sessions(sdk, 1, turns)
            bar.update(i + 1)
        gc.collect()
        full = tracemalloc.take_snapshot()
        assert len(manager.list_agents()) == sessions
        assert len(_sdk_contents(manager, template, f"s-{sessions - 1}")) == 2 * turns
        for i in range(sessions):
            await manager.end_session(agent_id, f"s-{i}")
        assert not manager.list_agents()
        gc.collect()
        ended = tracemalloc.take_snapshot()
        tracemalloc.stop()
    return {
        "held": _traced_total(full) - _traced_total(baseline),
        "residue": _traced_total(ended) - _traced_total(baseline),
        "residue_lines": _top_lines(ended, baseline),
    }


async def _held_by_saver(template: str, sessions: int, bar: Progress) -> dict[str, Any]:
    """Bytes idiomatic LangGraph's ``InMemorySaver`` retains for the same turns."""
    turns = SESSION_TURNS
    saver = InMemorySaver()
    graph = _graph(template, saver)
    warm, _ = _idiomatic_turns(graph, template, turns, "warm-")
    await _run_sessions(warm, 1, turns)
    idiomatic, _ = _idiomatic_turns(graph, template, turns, "thread-")
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    for i in range(sessions):
        await _run_sessions(idiomatic, 1, turns)
        bar.update(i + 1)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert len(saver.storage) == sessions + 1
    return {"held": _traced_total(after) - _traced_total(before)}


def memory_worker(side: str, template: str, sessions: int) -> None:
    """A child process's work for the memory section: measure one side, print JSON on stdout.

    The two sides run in two processes side by side: a byte count does not depend on timing, and
    tracemalloc makes every turn several times slower."""
    bar = Progress(f"{template}, {side}: sessions", sessions)
    bar.tty = False  # two processes share the terminal: a few plain lines each
    measure = _held_per_session if side == "per_session" else _held_by_saver
    result = asyncio.run(measure(template, sessions, bar))
    sys.stdout.write(json.dumps(result) + "\n")


async def _in_child(side: str, template: str, sessions: int) -> dict[str, Any]:
    code = (
        "from benchmarks.langgraph import memory_worker; "
        f"memory_worker({side!r}, {template!r}, {sessions})"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the memory worker for {side!r} exited with {process.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _where(filename: str, lineno: int) -> str:
    short = "/".join(filename.replace("\\", "/").split("/")[-2:])
    code = linecache.getline(filename, lineno).strip().replace("|", "\\|")
    return f"`{short}:{lineno}` `{code}`"


@section("langgraph.memory", "LangGraph: memory held per_session vs InMemorySaver")
def memory(ctx: Context) -> str:
    sessions = 50 if ctx.quick else 1000
    template = "chat"
    turns = SESSION_TURNS

    async def run() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(
                _in_child("per_session", template, sessions),
                _in_child("InMemorySaver", template, sessions),
            )
        )

    ours, theirs = asyncio.run(run())
    held, saver, residue = ours["held"], theirs["held"], ours["residue"]
    total_turns = sessions * turns
    ratio = held / saver
    share = residue / held
    sizes = table(
        [f"{sessions:,} sessions of {turns} turns", "total", "per session", "per turn"],
        [
            (
                label,
                f"{size / KIB / KIB:,.1f} MiB",
                f"{size / sessions / KIB:,.1f} KiB",
                f"{size / total_turns / KIB:,.2f} KiB",
            )
            for label, size in (
                ("per_session, default settings", held),
                ("idiomatic `InMemorySaver`", saver),
            )
        ],
    )
    targets = table(
        ["target", "measured", "target", "verdict"],
        [
            (
                "per_session ÷ InMemorySaver",
                f"{ratio:.3f} (1/{1 / ratio:.1f})",
                f"≤ 1/{1 / MEMORY_TARGET:.0f}",
                verdict(ratio <= MEMORY_TARGET),
            ),
            (
                "after every session ended: still allocated vs before the first turn",
                f"{residue / KIB:,.1f} KiB ({share:.2%} of what the sessions held)",
                f"≤ {RESIDUE_TARGET:.0%}",
                verdict(share <= RESIDUE_TARGET),
            ),
        ],
        "lrrc",
    )
    lines = table(
        ["allocated at", "KiB"],
        [(_where(f, line), f"{size / KIB:,.1f}") for f, line, size in ours["residue_lines"]],
    )
    return f"""## LangGraph: memory held per_session vs InMemorySaver

Bytes that stay allocated after {sessions:,} sessions of {turns} turns each of the `{template}`
template on the offline model, measured with `tracemalloc` (after `gc.collect()`) as the
difference between snapshots taken before the first turn and after the last. **per_session**: a
manager with the adapter's default settings, all {sessions:,} sessions live, each instance holding
its session's latest state ({2 * turns} messages) and everything else the manager keeps per
session. **InMemorySaver**: idiomatic LangGraph, the same graph compiled with `InMemorySaver()`,
one thread per session, LangGraph's default durability: it keeps every checkpoint of every
thread. Then every per_session session is ended with `manager.end_session`, and what is still
allocated is compared with the snapshot before the first turn. The two sides ran in two child
processes side by side (a byte count does not depend on timing; tracing makes turns several
times slower).

{sizes}

{targets}

Where that residue is (the lines holding the most of it):

{lines}
"""


# -- 6. persisted: native sessions vs LangGraph's durable savers ---------------------------------

PERSISTED_TARGET = 0.7
"""A persisted turn through sessionful: at most this fraction of the same graph's turn on
LangGraph's own durable saver (SQLite, Postgres), idiomatic defaults."""
POSTGRES_ENV = "SESSIONFUL_TEST_POSTGRES_DSN"
IDLE_SESSIONS = 200
"""Sessions held idle when measuring memory per idle session."""


def _persisted(template: str, store: str) -> SessionManager:
    return SessionManager(
        framework="langgraph", strategy="persisted", store=store, agents=[AGENTS[template]]
    )


@asynccontextmanager
async def _postgres_saver(dsn: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(dsn) as saver:
        await saver.setup()
        yield saver


@dataclass
class _PersistedRow:
    what: str
    template: str
    store: str
    saver: str
    timings: Interleaved | None
    note: str = ""
    same: bool = True


def _sdk_round_trips(manager: SessionManager, prefix: str) -> Callable[[], Awaitable[object]]:
    """One interrupt + resume round trip per call, each in a new session: the refund asks for
    approval, the answer approves it."""
    agent_id = AGENTS["tool-agent"].id
    counter = itertools.count()

    async def round_trip() -> object:
        session = f"{prefix}{next(counter)}"
        asked = await manager.execute(
            ExecuteAgentCommand(
                agent_id=agent_id,
                session_id=session,
                messages=[ChatMessage.user("Please refund $20 on order A-1001")],
            )
        )
        assert asked.status == "interrupted", asked
        done = await manager.execute(
            ExecuteAgentCommand(
                agent_id=agent_id, session_id=session, resume={asked.interrupts[0].id: "yes"}
            )
        )
        assert done.status == "completed", done
        return done

    return round_trip


def _graph_round_trips(graph: Graph, prefix: str) -> Callable[[], Awaitable[object]]:
    """The same round trip on the compiled graph alone: ``interrupt()``, then
    ``Command(resume=...)`` on the thread (LangGraph's defaults)."""
    from langgraph.types import Command

    counter = itertools.count()

    async def round_trip() -> object:
        config: Any = {"configurable": {"thread_id": f"{prefix}{next(counter)}"}}
        asked = await graph.ainvoke(
            {"messages": [HumanMessage("Please refund $20 on order A-1001")]}, config
        )
        pending = asked["__interrupt__"]
        return await graph.ainvoke(Command(resume={pending[0].id: "yes"}), config)

    return round_trip


async def _persisted_row(
    ctx: Context,
    what: str,
    template: str,
    store_name: str,
    store: str,
    saver_name: str,
    saver_cm: Any,
    sessions_per_batch: int,
    batches: int,
) -> _PersistedRow:
    run = os.urandom(3).hex()
    async with _persisted(template, store) as manager, saver_cm as saver:
        graph = _graph(template, saver)
        label = f"{what}, {template}, {store_name}: batch pairs"
        if what == "turn":
            per_batch = sessions_per_batch * SESSION_TURNS
            sdk, cursor = _sdk_turns(manager, template, SESSION_TURNS, f"sdk-{run}-")
            lone, _ = _idiomatic_turns(graph, template, SESSION_TURNS, f"thread-{run}-")
            warm_sdk, _ = _sdk_turns(manager, template, SESSION_TURNS, f"warm-{run}-")
            warm_lone, _ = _idiomatic_turns(graph, template, SESSION_TURNS, f"warm-{run}-")
            await _run_sessions(warm_sdk, 1, SESSION_TURNS)
            await _run_sessions(warm_lone, 1, SESSION_TURNS)
        else:
            per_batch = sessions_per_batch
            sdk = _sdk_round_trips(manager, f"sdk-{run}-")
            lone = _graph_round_trips(graph, f"thread-{run}-")
            await _sdk_round_trips(manager, f"warm-{run}-")()
            await _graph_round_trips(graph, f"warm-{run}-")()
        timings = await interleave(
            sdk, lone, batches=batches, per_batch=per_batch, progress=ctx.progress(label, batches)
        )
        same = True
        if what == "turn":
            last = cursor.sessions - 1
            key = SessionKey(AGENTS[template].id, f"sdk-{run}-{last}")
            mine = (await manager.state_history(key, limit=1))[0]["messages"]
            theirs = await graph.aget_state({"configurable": {"thread_id": f"thread-{run}-{last}"}})
            same = [m["content"] for m in mine] == _contents(theirs.values["messages"])
    return _PersistedRow(what, template, store_name, saver_name, timings, same=same)


async def _idle_bytes(strategy: str, store: str | None, sessions: int) -> float:
    """Bytes the process holds per idle live session after one turn each (tracemalloc)."""
    manager = SessionManager(
        framework="langgraph",
        strategy=strategy,
        store=store,
        agents=[AGENTS["chat"]],
        lifecycle=None,
    )
    agent_id = AGENTS["chat"].id
    async with manager:

        async def one(session: str) -> None:
            await manager.execute(
                ExecuteAgentCommand(
                    agent_id=agent_id,
                    session_id=session,
                    messages=[ChatMessage.user("Hello, my name is Ada")],
                )
            )

        for i in range(20):  # warm: the graph compiled, pools and caches filled
            await one(f"warm-{i}")
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot().filter_traces(_NOT_TRACEMALLOC)
            for i in range(sessions):
                await one(f"idle-{i}")
            gc.collect()
            after = tracemalloc.take_snapshot().filter_traces(_NOT_TRACEMALLOC)
        finally:
            tracemalloc.stop()
        assert len(manager.list_agents()) == sessions + 20
    return (_traced_total(after) - _traced_total(before)) / sessions


@section("langgraph.persisted", "LangGraph: persisted sessions vs LangGraph's durable savers")
def persisted(ctx: Context) -> str:
    dsn = os.environ.get(POSTGRES_ENV)
    turn_size, trip_size = ((1, 4), (10, 6)) if not ctx.quick else ((1, 2), (2, 2))

    async def run() -> tuple[list[_PersistedRow], dict[str, float]]:
        rows: list[_PersistedRow] = []
        with tempfile.TemporaryDirectory() as directory:
            db = f"sqlite:///{os.path.join(directory, 'sessions.db')}"
            for what, templates, size in (
                ("turn", TEMPLATES, turn_size),
                ("interrupt + resume", ("tool-agent",), trip_size),
            ):
                for template in templates:
                    rows.append(
                        await _persisted_row(
                            ctx,
                            what,
                            template,
                            "SQLite",
                            db,
                            "AsyncSqliteSaver",
                            _sqlite_saver(directory),
                            *size,
                        )
                    )
                    if dsn is None:
                        rows.append(
                            _PersistedRow(
                                what,
                                template,
                                "Postgres",
                                "AsyncPostgresSaver",
                                None,
                                f"not measured: `{POSTGRES_ENV}` is not set (run under "
                                "`scripts/with-postgres.sh`)",
                            )
                        )
                        continue
                    rows.append(
                        await _persisted_row(
                            ctx,
                            what,
                            template,
                            "Postgres",
                            dsn,
                            "AsyncPostgresSaver",
                            _postgres_saver(dsn),
                            *size,
                        )
                    )
            idle = IDLE_SESSIONS if not ctx.quick else 20
            memory = {
                "per_session (in memory)": await _idle_bytes("per_session", None, idle),
                "persisted, native (SQLite)": await _idle_bytes(
                    "persisted", f"sqlite:///{os.path.join(directory, 'idle.db')}", idle
                ),
            }
        return rows, memory

    rows, memory = asyncio.run(run())
    assert all(r.same for r in rows), "the two sides' conversations differ"
    cells: list[tuple[object, ...]] = []
    for r in rows:
        if r.timings is None:
            target = f"\N{LESS-THAN OR EQUAL TO} {times(PERSISTED_TARGET, 2)}"
            blank = ("", "", "")
            cells.append((r.what, f"`{r.template}`", r.store, f"`{r.saver}`", r.note, *blank))
            cells[-1] += (target, "n/a")
            continue
        a, b = median(r.timings.a), median(r.timings.b)
        cells.append(
            (
                r.what,
                f"`{r.template}`",
                r.store,
                f"`{r.saver}`",
                f"{len(r.timings.a):,}",
                ms(a),
                ms(b),
                *_against(a / b, PERSISTED_TARGET),
            )
        )
    numbers = table(
        [
            "operation",
            "template",
            "database",
            "LangGraph saver",
            "each",
            "sessionful (median)",
            "LangGraph alone (median)",
            "sessionful ÷ LangGraph",
            "target",
            "verdict",
        ],
        cells,
        "lllllrrrrc",
    )
    held = table(
        ["strategy", "bytes per idle session (tracemalloc)"],
        [(k, f"{v:,.0f}") for k, v in memory.items()],
        "lr",
    )
    return f"""## LangGraph: persisted sessions vs LangGraph's durable savers

**sessionful**: `await manager.execute(command)` under `persisted` with the adapter's defaults:
native persistence, the session's thread in a `SessionCheckpointer` on the manager's own store
(SQLite file, or Postgres), one checkpoint per turn, fenced by the session's lease, and the turn
acknowledged in the session record (its messages logged). **LangGraph alone**: the same template
builder and offline model compiled once with LangGraph's own saver on the same kind of database
(`AsyncSqliteSaver.from_conn_string(file)`, `AsyncPostgresSaver.from_conn_string(dsn)` on the same
Postgres server, `setup()` once), one `thread_id` per session, idiomatic defaults (durability
`"async"`: a checkpoint per step). Turns: sessions of {SESSION_TURNS} turns in lockstep on both
sides (the last session's conversation checked to be the same); interrupt + resume: a new session
whose refund asks for approval, then the answer (`resume` / `Command(resume=...)`). Timed call by
call in alternating batches, in one run. A `per_session` turn is measured against the compiled
graph in the sections above.

{numbers}

Memory held per idle session: {IDLE_SESSIONS if not ctx.quick else 20} `chat` sessions of one
turn each, left live (no lifecycle limits), the growth of the process's traced allocations
divided by their number:

{held}
"""
