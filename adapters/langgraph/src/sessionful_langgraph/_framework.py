"""The ``langgraph`` framework: compiled graphs shared per template, one thread per session."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict

from sessionful import (
    AgentCreateRequest,
    AgentFactory,
    AgentInstance,
    ChatMessage,
    ConfigurationError,
    Interrupt,
    SessionKey,
    StreamEvent,
    TurnOutput,
    TurnRequest,
    UnloadReason,
    Usage,
)
from sessionful.stores.base import Lease, SessionStore
from sessionful_langgraph._local import CONTEXT_KEYS, LEASE_KEY, TURN_KEY, LocalSaver, task_of
from sessionful_langgraph._messages import from_langchain, jsonable, new_id, to_langchain
from sessionful_langgraph.templates import BuildContext, resolve_model

if TYPE_CHECKING:
    from sessionful_langgraph.checkpointer import SessionCheckpointer

__all__ = [
    "LangGraphAgent",
    "LangGraphFactory",
    "LangGraphSettings",
    "from_langchain",
    "strict_serializer",
    "to_langchain",
]

Durability = Literal["exit", "async", "sync"]
Mode = Literal["native", "snapshot"]
_STREAM_MODES: list[Literal["messages", "updates", "custom", "values"]] = [
    "messages",
    "updates",
    "custom",
    "values",
]
_RESERVED = frozenset({"thread_id", "checkpoint_id", "checkpoint_ns", "checkpoint_map"})
"""``configurable`` keys that name the thread and its checkpoint: the adapter's, never a turn's
context."""
_INTERRUPT = "__interrupt__"
_BREAKPOINT = "breakpoint-"
"""Ids of the interrupts the adapter reports for a static breakpoint; answering one (with any
value) runs the graph on from it."""
_SNAPSHOT_VERSION = 2


def strict_serializer(allowed: Sequence[tuple[str, ...]] = ()) -> JsonPlusSerializer:
    """LangGraph's serializer in strict mode: no pickle fallback, no JSON constructor revival,
    and msgpack limited to LangGraph's safe types plus the explicit ``allowed`` ``(module,
    name)`` pairs. Use it for every checkpointer you hand to this adapter."""
    return JsonPlusSerializer(
        pickle_fallback=False, allowed_json_modules=None, allowed_msgpack_modules=tuple(allowed)
    )


class LangGraphSettings(BaseModel):
    """The ``langgraph`` framework's settings (``SessionManager(framework_settings=...)``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    checkpointer: Literal["memory"] | BaseCheckpointSaver[Any] | None = None
    """``None`` (default): the adapter's own in-memory saver, which keeps each session's latest
    checkpoint only and forgets it when the instance is unloaded (``interrupt()`` and resume work;
    under ``persisted`` the core stores it). ``"memory"``: LangGraph's ``InMemorySaver`` (strict
    serializer), which keeps every checkpoint of a thread until the session ends. Or any
    ``BaseCheckpointSaver`` (say ``AsyncPostgresSaver``): a session's thread is kept when its
    instance is unloaded and deleted when the session ends."""
    durability: Durability = "exit"
    """With a checkpointer of yours: when LangGraph writes checkpoints. ``"exit"`` writes one
    when the turn ends, which is all a request/response turn needs."""
    recursion_limit: int = 25
    """LangGraph's bound on steps per turn."""
    store: BaseStore | None = None
    """A LangGraph ``BaseStore`` (long-term memory across threads) given to every graph that has
    none of its own, so ``get_store()`` works in its nodes."""
    persistence: Mode | None = None
    """Under the ``persisted`` strategy, where a session's state lives. ``"native"``: in its
    checkpoints (the default with sessionful's savers: without a ``checkpointer``, a
    :class:`SessionCheckpointer` on the manager's own store, every write fenced by the session's
    lease); state, pending interrupts and history come from them. ``"snapshot"``: the core
    stores the thread's latest checkpoint as the session's snapshot with every turn (the
    default with LangGraph's own savers, which cannot be fenced)."""


def _ids(messages: Iterable[Any]) -> set[str]:
    return {m.id for m in messages if isinstance(m, BaseMessage) and m.id is not None}


class LangGraphAgent:
    """One session's view of a shared compiled graph: the graph bound to ``thread_id = str(key)``.

    A turn that does not complete (it raised, was cancelled, or its stream was abandoned) is
    undone: its checkpoints are deleted (``delete_for_runs``), or, on a saver that cannot, the
    next turn starts from the checkpoint before it.
    """

    def __init__(
        self,
        key: SessionKey,
        graph: Pregel[Any, Any, Any, Any],
        settings: LangGraphSettings,
        template_version: str,
        checkpointer: BaseCheckpointSaver[Any],
        owned: bool,
        persistence: Mode = "snapshot",
        factory: LangGraphFactory | None = None,
    ) -> None:
        self.key = key
        self.persistence: Mode = persistence
        """Where the ``persisted`` strategy keeps this session: its checkpoints (``"native"``)
        or the core's snapshots."""
        self.template_version = template_version
        """The template version this session was created on; it keeps it until it ends."""
        self.graph = graph
        self.checkpointer = checkpointer
        """The saver holding this session's thread."""
        self.thread_id = str(key)
        self._owned = owned
        self._durability: Durability = "exit" if owned else settings.durability
        self._recursion_limit = settings.recursion_limit
        # Ids of the thread's messages as of its latest completed turn (None: not read yet).
        self._known: set[str] | None = set() if owned else None
        # The checkpoint the next turn starts from, when it is not the thread's latest.
        self._pin: str | None = None
        # Static breakpoints (compiled with interrupt_before / interrupt_after) stop a run
        # without an interrupt() value: the adapter reports them as interrupts of its own.
        self._breakpoints = bool(graph.interrupt_before_nodes or graph.interrupt_after_nodes)
        self._factory = factory
        # Native persistence, once bound: the lease fencing the thread's writes (None: a saver
        # that cannot be fenced) and the number of the session's last acknowledged turn.
        self._lease: Lease | None = None
        self._turn: int | None = None

    # -- configuration -------------------------------------------------------------------------

    def _thread_config(self) -> RunnableConfig:
        configurable: dict[str, Any] = {"thread_id": self.thread_id, "checkpoint_ns": ""}
        if self._pin is not None:
            configurable["checkpoint_id"] = self._pin
        if self._lease is not None:
            configurable[LEASE_KEY] = self._lease
        return {"configurable": configurable}

    def _turn_config(self, context: Mapping[str, Any], run_id: str) -> RunnableConfig:
        configurable = {
            k: v for k, v in context.items() if k not in _RESERVED and not k.startswith("__")
        }
        if configurable:
            configurable[CONTEXT_KEYS] = tuple(configurable)
        configurable["thread_id"] = self.thread_id
        if self._pin is not None:
            configurable["checkpoint_id"] = self._pin
        metadata: dict[str, Any] = {"run_id": run_id}
        if self._lease is not None:
            configurable[LEASE_KEY] = self._lease
        if self._turn is not None:
            metadata[TURN_KEY] = self._turn + 1
        return {
            "configurable": configurable,
            "recursion_limit": self._recursion_limit,
            "metadata": metadata,
        }

    def _turn_input(self, request: TurnRequest) -> tuple[Any, set[str]]:
        incoming = [to_langchain(m) for m in request.messages]
        ids = _ids(incoming)
        if request.resume and all(k.startswith(_BREAKPOINT) for k in request.resume):
            return (Command(update={"messages": incoming}) if incoming else None), ids
        if request.resume:
            update = {"messages": incoming} if incoming else None
            return Command(resume=dict(request.resume), update=update), ids
        return {"messages": incoming}, ids

    def _kwargs(self, request: TurnRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"durability": self._durability}
        if request.context:
            kwargs["context"] = request.context
        return kwargs

    async def _prior(self) -> set[str]:
        if self._known is None:
            state = await self.graph.aget_state(self._thread_config())
            values = state.values if isinstance(state.values, dict) else {}
            self._known = _ids(values.get("messages", ()))
        return self._known

    # -- a turn --------------------------------------------------------------------------------

    def _output(
        self, values: Any, prior: set[str], incoming: set[str]
    ) -> tuple[TurnOutput, set[str]]:
        values = values if isinstance(values, dict) else {}
        messages = [m for m in values.get("messages", ()) if isinstance(m, BaseMessage)]
        produced = [
            from_langchain(m) for m in messages if m.id not in prior and m.id not in incoming
        ]
        interrupts = [
            Interrupt(id=str(i.id), value=jsonable(i.value)) for i in values.get(_INTERRUPT, ())
        ]
        usage: Usage | None = None
        for message in produced:
            if message.usage is not None:
                usage = message.usage if usage is None else usage + message.usage
        return TurnOutput(messages=produced, interrupts=interrupts, usage=usage), _ids(messages)

    async def _settle(self, known: set[str]) -> None:
        """A turn completed: remember its messages; the owned saver keeps the latest only."""
        self._known = known
        self._pin = None
        if self._turn is not None:
            self._turn += 1
        if self._owned and isinstance(self.checkpointer, LocalSaver):
            self.checkpointer.settle(self.thread_id)

    async def _undo(self, run_id: str) -> None:
        """Leave the thread as it was before the run ``run_id``."""
        try:
            await self.checkpointer.adelete_for_runs([run_id])
            return
        except NotImplementedError:
            pass
        if self._pin is not None:
            return  # the next turn starts from the pinned checkpoint anyway
        thread: RunnableConfig = {
            "configurable": {"thread_id": self.thread_id, "checkpoint_ns": ""}
        }
        async for found in self.checkpointer.alist(thread):
            if found.metadata.get("run_id") != run_id:
                self._pin = found.config["configurable"]["checkpoint_id"]
                return
        await self.checkpointer.adelete_thread(self.thread_id)  # the run was its only history

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        """Run the graph on the turn's messages (or resume it with ``request.resume``); return
        the messages it produced, its open interrupts and its usage."""
        graph_input, incoming = self._turn_input(request)
        prior = await self._prior()
        run_id = new_id()
        done = False
        try:
            values = await self.graph.ainvoke(
                graph_input, self._turn_config(request.context, run_id), **self._kwargs(request)
            )
            output, known = self._output(values, prior, incoming)
            output = await self._with_breakpoint(output)
            done = True
        finally:
            if not done:
                await self._undo(run_id)
        await self._settle(known)
        return output

    async def _with_breakpoint(self, output: TurnOutput) -> TurnOutput:
        """``output``, with an interrupt for the static breakpoint the run stopped at, if any."""
        if not self._breakpoints or output.interrupts:
            return output
        state = await self.graph.aget_state(self._thread_config())
        if not state.next:
            return output
        cid = state.config["configurable"]["checkpoint_id"]
        stop = Interrupt(id=f"{_BREAKPOINT}{cid}", value={"breakpoint": list(state.next)})
        return output.model_copy(update={"interrupts": [stop]})

    async def astream(
        self, request: TurnRequest
    ) -> AsyncIterator[ChatMessage | StreamEvent | TurnOutput]:
        """Yield message chunks as the graph produces them (``metadata["index"]``: which
        message of the turn), its ``updates`` and ``custom`` payloads as
        :class:`~sessionful.StreamEvent`, then the turn's output. The turn counts only once the
        output has been taken; a stream stopped before is undone."""
        graph_input, incoming = self._turn_input(request)
        prior = await self._prior()
        run_id = new_id()
        done = False
        try:
            final: Any = None
            order: dict[str, int] = {}
            parts: AsyncGenerator[Any, None] = self.graph.astream(  # type: ignore[assignment]
                graph_input,
                self._turn_config(request.context, run_id),
                stream_mode=_STREAM_MODES,
                **self._kwargs(request),
            )
            async with contextlib.aclosing(parts):
                async for mode, payload in parts:
                    if mode == "values":
                        final = payload
                    elif mode == "messages":
                        chunk = payload[0]
                        if not isinstance(chunk, BaseMessage) or chunk.id in incoming:
                            continue
                        if not chunk.content and not getattr(chunk, "tool_call_chunks", None):
                            continue  # the empty closing chunk some models send
                        index = order.setdefault(str(chunk.id), len(order))
                        yield from_langchain(chunk, index=index)
                    elif mode == "updates":
                        if isinstance(payload, dict) and set(payload) == {_INTERRUPT}:
                            continue  # the turn's output carries the interrupts
                        yield StreamEvent(type="updates", data=jsonable(payload))
                    else:
                        yield StreamEvent(type=str(mode), data=jsonable(payload))
            output, known = self._output(final, prior, incoming)
            output = await self._with_breakpoint(output)
            yield output
            done = True
        finally:
            if not done:
                await self._undo(run_id)
        await self._settle(known)

    # -- persistence -----------------------------------------------------------------------------

    async def bind_store(self, store: SessionStore, lease: Lease) -> None:
        """Native persistence under ``persisted``: keep the thread in ``store`` (a
        :class:`SessionCheckpointer` on it, unless the settings name a saver of yours), every
        write fenced by ``lease``; reload the session from its checkpoints, dropping those of a
        turn the store never acknowledged."""
        if self._factory is not None:
            saver, graph = self._factory.on_store(self.graph, store)
            if saver is not self.checkpointer:
                self.checkpointer, self.graph, self._owned = saver, graph, False
        from sessionful_langgraph.checkpointer import SessionCheckpointer

        saver = self.checkpointer
        fenced = isinstance(saver, SessionCheckpointer) and saver.store is store
        self._lease = lease if fenced else None
        record = await store.get(lease.key)
        self._turn = 0 if record is None else record.turn_count
        self._known = None
        await self._drop_unacknowledged()

    async def _drop_unacknowledged(self) -> None:
        """Forget the checkpoints written by turns after the last acknowledged one (a process
        that stopped between its checkpoint and its acknowledgement)."""
        acked = self._turn or 0
        thread: RunnableConfig = {
            "configurable": {"thread_id": self.thread_id, "checkpoint_ns": ""}
        }
        latest = await self.checkpointer.aget_tuple(thread)
        if latest is None:
            self._known = set()
            return
        if _turn_of(latest) <= acked:
            return
        runs: set[str] = set()
        keep: str | None = None
        async for found in self.checkpointer.alist({"configurable": {"thread_id": self.thread_id}}):
            run_id = found.metadata.get("run_id")
            if _turn_of(found) > acked and isinstance(run_id, str):
                runs.add(run_id)
            elif keep is None and not found.config["configurable"].get("checkpoint_ns"):
                keep = found.config["configurable"]["checkpoint_id"]
        try:
            await self.checkpointer.adelete_for_runs(sorted(runs))
        except NotImplementedError:
            if keep is None:
                await self.checkpointer.adelete_thread(self.thread_id)
            self._pin = keep

    async def state_history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The session's checkpoints, newest first, as JSON: ``checkpoint_id``, ``created_at``
        (ISO 8601), ``next`` (the nodes that would run next), ``step``, ``source``, ``turn``
        (the session turn that wrote it, under native persistence), ``interrupts`` pending there
        and ``messages`` (sessionful's JSON). The adapter's own in-memory saver keeps the latest
        checkpoint only; native persistence and savers of yours keep each turn's."""
        thread: RunnableConfig = {
            "configurable": {"thread_id": self.thread_id, "checkpoint_ns": ""}
        }
        found: list[dict[str, Any]] = []
        async for state in self.graph.aget_state_history(thread, limit=limit):
            values = state.values if isinstance(state.values, dict) else {}
            metadata = state.metadata or {}
            messages = [m for m in values.get("messages", ()) if isinstance(m, BaseMessage)]
            found.append(
                {
                    "checkpoint_id": state.config["configurable"]["checkpoint_id"],
                    "created_at": state.created_at,
                    "next": list(state.next),
                    "step": metadata.get("step"),
                    "source": metadata.get("source"),
                    "turn": metadata.get(TURN_KEY),
                    "interrupts": [
                        {"id": str(i.id), "value": jsonable(i.value)} for i in state.interrupts
                    ],
                    "messages": [from_langchain(m).model_dump(mode="json") for m in messages],
                }
            )
        return found

    async def snapshot(self) -> dict[str, Any]:
        """The thread's latest checkpoint (pending writes, so pending interrupts, included),
        serialised by the strict serializer: ``{"version": 2, "type", "data"}`` with ``data``
        base64. Any state LangGraph checkpoints round-trips, with nothing replayed."""
        found = await self.checkpointer.aget_tuple(self._thread_config())
        if found is None:
            return {"version": _SNAPSHOT_VERSION, "type": None, "data": None}
        payload = _saved(found)
        tasks = {write[0] for write in found.pending_writes or ()}
        if tasks:  # a paused run: its paused subgraphs' checkpoints belong to the session too
            children: list[dict[str, Any]] = []
            seen: set[str] = set()
            async for child in self.checkpointer.alist(
                {"configurable": {"thread_id": self.thread_id}}
            ):
                ns = child.config["configurable"].get("checkpoint_ns", "")
                if ns and ns not in seen and task_of(ns) in tasks:
                    seen.add(ns)
                    children.append({"ns": ns, **_saved(child)})
            payload["children"] = children
        kind, data = _SERDE.dumps_typed(payload)
        return {
            "version": _SNAPSHOT_VERSION,
            "type": kind,
            "data": base64.b64encode(data).decode("ascii"),
        }

    async def restore(
        self, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
    ) -> None:
        """Make the snapshot's checkpoint the thread's current one (written to the saver unless
        it holds it already), then add any logged ``messages`` after it. Under native
        persistence, only into an empty thread (a session stored as snapshots before)."""
        if self.persistence == "native" and self._turn is not None:
            thread: RunnableConfig = {
                "configurable": {"thread_id": self.thread_id, "checkpoint_ns": ""}
            }
            if await self.checkpointer.aget_tuple(thread) is not None:
                return
        version = None if snapshot is None else snapshot.get("version")
        if snapshot is not None and version == _SNAPSHOT_VERSION:
            if snapshot.get("data") is not None:
                await self._restore_checkpoint(snapshot)
        elif snapshot is not None and version != 1:
            raise ValueError(f"not a langgraph snapshot (version {version!r})")
        values: dict[str, Any] = {}
        if snapshot is not None and version == 1:  # written by sessionful 0.1
            if not isinstance(snapshot.get("messages"), list):
                raise ValueError("not a langgraph snapshot (expected version 1 with messages)")
            values = dict(snapshot.get("state") or {})
            saved = [ChatMessage.model_validate(m) for m in snapshot["messages"]]
            values["messages"] = [to_langchain(m) for m in saved]
        if messages:
            values["messages"] = [*values.get("messages", ()), *map(to_langchain, messages)]
        if values:
            config = await self.graph.aupdate_state(self._thread_config(), values)
            self._pin = None if self._pin is None else config["configurable"]["checkpoint_id"]
        self._known = None

    async def _restore_checkpoint(self, snapshot: Mapping[str, Any]) -> None:
        try:
            payload = _SERDE.loads_typed((snapshot["type"], base64.b64decode(snapshot["data"])))
            checkpoint = payload["checkpoint"]
            cid = checkpoint["id"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"corrupt langgraph snapshot: {exc!r}") from exc
        saver = self.checkpointer
        thread: RunnableConfig = {
            "configurable": {"thread_id": self.thread_id, "checkpoint_ns": ""}
        }
        at: RunnableConfig = {"configurable": {**thread["configurable"], "checkpoint_id": cid}}
        if await saver.aget_tuple(at) is None:
            await _put_saved(saver, self.thread_id, "", payload, self._lease)
            for child in payload.get("children", ()):
                await _put_saved(saver, self.thread_id, child["ns"], child, self._lease)
        latest = await saver.aget_tuple(thread)
        self._pin = None if latest is None or latest.checkpoint["id"] == cid else cid


_SERDE = strict_serializer()


def _saved(found: CheckpointTuple) -> dict[str, Any]:
    return {
        "checkpoint": found.checkpoint,
        "metadata": found.metadata,
        "writes": [list(write) for write in found.pending_writes or ()],
    }


def _turn_of(found: CheckpointTuple) -> int:
    """The session turn that wrote a checkpoint (``0``: unknown, taken as acknowledged)."""
    turn = found.metadata.get(TURN_KEY)
    return turn if isinstance(turn, int) else 0


async def _put_saved(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    ns: str,
    saved: Mapping[str, Any],
    lease: Lease | None = None,
) -> None:
    """Write one snapshotted checkpoint, with its pending writes, into ``saver``."""
    checkpoint = saved["checkpoint"]
    where: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if lease is not None:
        where[LEASE_KEY] = lease
    config = await saver.aput(
        {"configurable": where},
        checkpoint,
        saved["metadata"],
        dict(checkpoint["channel_versions"]),
    )
    by_task: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in saved["writes"]:
        by_task.setdefault(task_id, []).append((channel, value))
    if lease is not None:
        config = {"configurable": {**config["configurable"], LEASE_KEY: lease}}
    for task_id, writes in by_task.items():
        await saver.aput_writes(config, writes, task_id)


class LangGraphFactory(AgentFactory):
    """Compiles each ``(template, version, configuration)`` once; instances share the result."""

    def __init__(self, settings: LangGraphSettings) -> None:
        self.settings = settings
        checkpointer = settings.checkpointer
        self.owns_checkpointer = checkpointer is None
        """Whether the checkpointer is the adapter's own in-memory one (threads go with their
        instances) rather than the user's (threads go when their session ends)."""
        if checkpointer is None:
            checkpointer = LocalSaver(serde=strict_serializer())
        elif checkpointer == "memory":
            checkpointer = InMemorySaver(serde=strict_serializer())
        self.checkpointer: BaseCheckpointSaver[Any] = checkpointer
        self.persistence: Mode = settings.persistence or (
            "native"
            if settings.checkpointer is None or _is_session_saver(checkpointer)
            else "snapshot"
        )
        """Where the ``persisted`` strategy keeps sessions (see
        :attr:`LangGraphSettings.persistence`)."""
        self._compiled: dict[tuple[str, str, str], Pregel[Any, Any, Any, Any]] = {}
        self._store_savers: dict[int, tuple[SessionStore, SessionCheckpointer]] = {}
        self._on_store: dict[tuple[int, int], Pregel[Any, Any, Any, Any]] = {}
        self.compiles = 0
        """How many graphs this factory has compiled (one per distinct template configuration)."""

    def graph_for(self, request: AgentCreateRequest) -> Pregel[Any, Any, Any, Any]:
        """The compiled graph for ``request``'s template and configuration (compiled once)."""
        template = request.template
        if template is None:
            raise ConfigurationError(
                f"agent {request.metadata.get('base_agent_id')!r} names no registered template"
            )
        cache_key = (
            template.template_id,
            template.version,
            json.dumps(request.configuration, sort_keys=True, default=repr),
        )
        graph = self._compiled.get(cache_key)
        if graph is None:
            context = BuildContext(
                configuration=request.configuration, model=resolve_model(request.configuration)
            )
            graph = self._compile(template.template_id, template.build(context))
            self._compiled[cache_key] = graph
            self.compiles += 1
        return graph

    def _compile(self, template_id: str, built: Any) -> Pregel[Any, Any, Any, Any]:
        """``built`` compiled with this factory's checkpointer: a ``StateGraph`` is compiled, a
        compiled graph is copied with every compile option but its checkpointer kept."""
        store = self.settings.store
        if isinstance(built, StateGraph):
            return built.compile(checkpointer=self.checkpointer, store=store)
        if isinstance(built, Pregel):
            update: dict[str, Any] = {"checkpointer": self.checkpointer}
            if built.store is None and store is not None:
                update["store"] = store
            return built.copy(update)
        raise ConfigurationError(
            f"template {template_id!r} built a {type(built).__name__}; a LangGraph template "
            "returns a StateGraph or a compiled graph"
        )

    def on_store(
        self, graph: Pregel[Any, Any, Any, Any], store: SessionStore
    ) -> tuple[BaseCheckpointSaver[Any], Pregel[Any, Any, Any, Any]]:
        """The saver and graph a natively persisted session uses on the manager's ``store``:
        without a checkpointer in the settings, a :class:`SessionCheckpointer` on ``store`` (one
        per store) and ``graph`` copied onto it (once per graph); else the settings' own."""
        if not self.owns_checkpointer:
            return self.checkpointer, graph
        from sessionful_langgraph.checkpointer import SessionCheckpointer

        held = self._store_savers.get(id(store))
        if held is None or held[0] is not store:
            held = self._store_savers[id(store)] = (store, SessionCheckpointer(store))
        saver = held[1]
        copied = self._on_store.get((id(graph), id(saver)))
        if copied is None:
            copied = self._on_store[(id(graph), id(saver))] = graph.copy({"checkpointer": saver})
        return saver, copied

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        """A session instance over the shared compiled graph; compiles only on a cold template."""
        return LangGraphAgent(
            request.key,
            self.graph_for(request),
            self.settings,
            request.template_version,
            self.checkpointer,
            owned=self.owns_checkpointer,
            persistence=self.persistence,
            factory=self,
        )

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        """Forget the instance's thread if the session ended, or if the thread is in the
        adapter's own memory; a saver of yours (or the manager's store) keeps it for the
        session's next instance."""
        if not isinstance(instance, LangGraphAgent):
            raise TypeError(f"not a LangGraph instance: {instance!r}")
        if reason == "ended" or isinstance(instance.checkpointer, LocalSaver):
            await instance.checkpointer.adelete_thread(instance.thread_id)


def _is_session_saver(saver: object) -> bool:
    from sessionful_langgraph.checkpointer import SessionCheckpointer

    return isinstance(saver, SessionCheckpointer)
