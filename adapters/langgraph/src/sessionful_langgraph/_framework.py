"""The ``langgraph`` framework: compiled graphs shared per template, one instance per session."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict, ValidationError

from sessionful import (
    AgentCreateRequest,
    AgentFactory,
    AgentInstance,
    ChatMessage,
    ConfigurationError,
    SessionKey,
)
from sessionful_langgraph.templates import BuildContext, resolve_model

__all__ = [
    "LangGraphAgent",
    "LangGraphFactory",
    "LangGraphSettings",
    "from_langchain",
    "strict_serializer",
    "to_langchain",
]

# Ids for incoming messages: unique per process by the counter, across processes by the
# random prefix; cheaper than uuid4 on every turn.
_ID_PREFIX = f"as-{os.urandom(6).hex()}-"
_ID_COUNTER = itertools.count()

Durability = Literal["exit", "async", "sync"]
_STREAM_MODES: list[Literal["messages", "values"]] = ["messages", "values"]


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
    """``None`` (default): each instance holds its thread's latest state and the graph writes no
    checkpoints; the state goes when the instance is unloaded. ``"memory"``: LangGraph's
    ``InMemorySaver`` (strict serializer), which keeps every checkpoint of a thread until the
    session ends. Or any ``BaseCheckpointSaver``; its thread for a session is deleted when the
    instance is destroyed."""
    durability: Durability = "exit"
    """With a checkpointer: when LangGraph writes checkpoints. ``"exit"`` writes one when the turn
    completes, which is all a request/response turn needs."""
    recursion_limit: int = 25
    """LangGraph's bound on steps per turn."""


def to_langchain(message: ChatMessage) -> BaseMessage:
    """The langchain-core message for ``message`` (with a fresh id when it has none).

    Raises ``ConfigurationError`` naming the problem when the message's metadata cannot make a
    langchain-core message (a malformed ``tool_calls``, say): bad input, not an agent failure.
    """
    try:
        return _to_langchain(message)
    except (ValidationError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"a {message.role} message cannot be passed to LangGraph: {exc}"
        ) from None


def _to_langchain(message: ChatMessage) -> BaseMessage:
    meta = message.metadata
    ident = meta.get("id") or f"{_ID_PREFIX}{next(_ID_COUNTER)}"
    if not isinstance(ident, str):
        raise TypeError(f"metadata 'id' must be a string, not {type(ident).__name__}")
    if message.role == "user":
        return HumanMessage(content=message.content, id=ident, name=message.name)
    if message.role == "assistant":
        return AIMessage(
            content=message.content,
            id=ident,
            name=message.name,
            tool_calls=meta.get("tool_calls", []),
        )
    if message.role == "system":
        return SystemMessage(content=message.content, id=ident)
    return ToolMessage(
        content=message.content,
        id=ident,
        name=message.name,
        tool_call_id=meta.get("tool_call_id", ""),
    )


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)


def from_langchain(message: BaseMessage, **extra: Any) -> ChatMessage:
    """The :class:`~sessionful.ChatMessage` for a langchain-core message."""
    meta: dict[str, Any] = {"id": message.id, **extra}
    if isinstance(message, HumanMessage):
        return ChatMessage(role="user", content=_text(message), name=message.name, metadata=meta)
    if isinstance(message, ToolMessage):
        meta["tool_call_id"] = message.tool_call_id
        return ChatMessage(role="tool", content=_text(message), name=message.name, metadata=meta)
    if isinstance(message, SystemMessage):
        return ChatMessage(role="system", content=_text(message), metadata=meta)
    if isinstance(message, AIMessage) and message.tool_calls:
        meta["tool_calls"] = [dict(call) for call in message.tool_calls]
    return ChatMessage(role="assistant", content=_text(message), name=message.name, metadata=meta)


def _after(messages: Sequence[BaseMessage], last_input_id: str, fallback: int) -> list[BaseMessage]:
    """The messages a turn produced: those after its last input message."""
    for position in range(len(messages) - 1, -1, -1):
        if messages[position].id == last_input_id:
            return list(messages[position + 1 :])
    return list(messages[fallback:])


class LangGraphAgent:
    """One session's view of a shared compiled graph: the graph bound to ``thread_id = str(key)``.

    Without a checkpointer it also holds the thread's latest state, which it replaces only when a
    turn completes, so a failed or abandoned turn leaves the session as it was.
    """

    def __init__(
        self,
        key: SessionKey,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        settings: LangGraphSettings,
        template_version: str,
        checkpointed: bool,
    ) -> None:
        self.key = key
        self.template_version = template_version
        """The template version this session was created on; it keeps it until it ends."""
        self.graph = graph
        self._checkpointed = checkpointed
        self._durability: Durability | None = settings.durability if checkpointed else None
        self._config: RunnableConfig = {
            "configurable": {"thread_id": str(key)},
            "recursion_limit": settings.recursion_limit,
        }
        self._state: dict[str, Any] = {}
        # A graph whose whole state is its messages can be rebuilt from the message log, so it
        # needs a snapshot only when unloaded; any other state is snapshotted with every turn.
        self.snapshot_every = 0 if set(graph.builder.channels) <= {"messages"} else 1
        """Read by the ``persisted`` strategy in place of the framework's default."""

    @property
    def state(self) -> Mapping[str, Any]:
        """The thread's latest state as held by the instance (empty with a checkpointer)."""
        return self._state

    def _input(self, incoming: list[BaseMessage]) -> tuple[dict[str, Any], int]:
        if self._checkpointed:
            return {"messages": incoming}, 0
        prior = self._state.get("messages", [])
        return {**self._state, "messages": [*prior, *incoming]}, len(prior) + len(incoming)

    async def ainvoke(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """Run the graph on the new messages; return the messages it produced."""
        incoming = [to_langchain(m) for m in messages]
        graph_input, fallback = self._input(incoming)
        state = await self.graph.ainvoke(graph_input, self._config, durability=self._durability)
        produced = _after(state["messages"], str(incoming[-1].id), fallback)
        if not self._checkpointed:
            self._state = state
        return [from_langchain(m) for m in produced]

    async def astream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[ChatMessage]:
        """Yield chunks as the graph produces them (``metadata["index"]``: which message of the
        turn); the held state is replaced only once the stream completes."""
        incoming = [to_langchain(m) for m in messages]
        graph_input, _ = self._input(incoming)
        final: dict[str, Any] | None = None
        order: dict[str, int] = {}
        parts: AsyncIterator[Any] = self.graph.astream(
            graph_input, self._config, stream_mode=_STREAM_MODES, durability=self._durability
        )
        async for mode, payload in parts:
            if mode == "values":
                final = payload
                continue
            chunk: BaseMessage = payload[0]
            if not chunk.content and not getattr(chunk, "tool_call_chunks", None):
                continue  # the empty closing chunk some models send
            index = order.setdefault(str(chunk.id), len(order))
            yield from_langchain(chunk, index=index)
        if final is not None and not self._checkpointed:
            self._state = final

    def snapshot(self) -> dict[str, Any]:
        """The thread's latest state as JSON: messages as sessionful messages, any other
        state key as it is (it must be JSON already). No LangChain serialisation is involved."""
        values = (
            dict(self.graph.get_state(self._config).values) if self._checkpointed else self._state
        )
        messages = [from_langchain(m).model_dump(mode="json") for m in values.get("messages", [])]
        rest = {k: v for k, v in values.items() if k != "messages"}
        return {"version": 1, "messages": messages, "state": rest}

    def restore(self, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]) -> None:
        """Rebuild the thread from a snapshot and the logged messages after it."""
        values: dict[str, Any] = {}
        saved: list[Any] = []
        if snapshot is not None:
            if snapshot.get("version") != 1 or not isinstance(snapshot.get("messages"), list):
                raise ValueError("not a langgraph snapshot (expected version 1 with messages)")
            values = dict(snapshot.get("state") or {})
            saved = snapshot["messages"]
        history = [to_langchain(ChatMessage.model_validate(m)) for m in saved]
        history += [to_langchain(m) for m in messages]
        values["messages"] = history
        if self._checkpointed:
            self.graph.update_state(self._config, values)
        else:
            self._state = values


class LangGraphFactory(AgentFactory):
    """Compiles each ``(template, version, configuration)`` once; instances share the result."""

    def __init__(self, settings: LangGraphSettings) -> None:
        self.settings = settings
        checkpointer = settings.checkpointer
        if checkpointer == "memory":
            checkpointer = InMemorySaver(serde=strict_serializer())
        self.checkpointer: BaseCheckpointSaver[Any] | None = checkpointer
        self._compiled: dict[tuple[str, str, str], CompiledStateGraph[Any, Any, Any, Any]] = {}
        self.compiles = 0
        """How many graphs this factory has compiled (one per distinct template configuration)."""

    def graph_for(self, request: AgentCreateRequest) -> CompiledStateGraph[Any, Any, Any, Any]:
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
            graph = template.build(context).compile(checkpointer=self.checkpointer)
            self._compiled[cache_key] = graph
            self.compiles += 1
        return graph

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        """A session instance over the shared compiled graph; compiles only on a cold template."""
        return LangGraphAgent(
            request.key,
            self.graph_for(request),
            self.settings,
            request.template_version,
            checkpointed=self.checkpointer is not None,
        )

    async def destroy_agent(self, instance: AgentInstance) -> None:
        """Drop the instance's state; with a checkpointer, delete its thread."""
        if not isinstance(instance, LangGraphAgent):
            raise TypeError(f"not a LangGraph instance: {instance!r}")
        instance._state = {}
        if self.checkpointer is not None:
            await self.checkpointer.adelete_thread(str(instance.key))
