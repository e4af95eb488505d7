"""The ``openai-agents`` framework: one ``Agent`` per template, one item list per session."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from agents import Agent, RunConfig, Runner, RunState
from agents.items import ToolApprovalItem
from agents.stream_events import (
    AgentUpdatedStreamEvent,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
)
from openai.types.responses import ResponseTextDeltaEvent
from pydantic import BaseModel, ConfigDict, Field

from sessionful import (
    AgentCreateRequest,
    AgentFactory,
    AgentInstance,
    ChatMessage,
    ConfigurationError,
    ImageBlock,
    Interrupt,
    InvalidResume,
    SessionKey,
    StreamEvent,
    TextBlock,
    ToolCall,
    TurnOutput,
    TurnRequest,
    UnloadReason,
    Usage,
)
from sessionful.stores import MemoryStore, SessionStore
from sessionful.stores.base import Lease
from sessionful_openai_agents.session import SessionfulSession
from sessionful_openai_agents.templates import BuildContext, resolve_model

__all__ = [
    "OpenAIAgentsFactory",
    "OpenAIAgentsInstance",
    "OpenAIAgentsSettings",
    "from_item",
    "to_item",
]

logger = logging.getLogger("sessionful.openai_agents")


class OpenAIAgentsSettings(BaseModel):
    """The ``openai-agents`` framework's settings (``SessionManager(framework_settings=...)``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_turns: int = Field(default=10, ge=1)
    """The SDK's bound on model calls per run."""
    tracing: bool = False
    """Send the SDK's traces (to OpenAI by default). Off, so offline runs stay offline."""


# -- messages <-> items -------------------------------------------------------------------------


def to_item(message: ChatMessage) -> dict[str, Any]:
    """The SDK input item for a sessionful message."""
    if message.role == "tool" and message.tool_call_id:
        return {
            "type": "function_call_output",
            "call_id": message.tool_call_id,
            "output": message.text,
        }
    role = "user" if message.role == "tool" else message.role
    if isinstance(message.content, str):
        return {"role": role, "content": message.content}
    if role != "user":
        return {"role": role, "content": message.text}
    parts: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, TextBlock):
            parts.append({"type": "input_text", "text": block.text})
        elif isinstance(block, ImageBlock) and (block.url or block.base64):
            url = block.url or f"data:{block.mime_type or 'image/png'};base64,{block.base64}"
            parts.append({"type": "input_image", "image_url": url, "detail": "auto"})
        # Other blocks (files, reasoning, provider JSON) have no portable input form here.
    return {"role": "user", "content": parts or ""}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def from_item(
    item: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> ChatMessage | None:
    """The sessionful message for an SDK item (``None`` for items with no message form, such as
    reasoning). ``names`` maps call ids to tool names for tool outputs."""
    kind = item.get("type")
    if kind == "function_call":
        try:
            args = json.loads(item.get("arguments") or "{}")
        except ValueError:
            args = {"arguments": item.get("arguments")}
        call = ToolCall(
            id=item.get("call_id"),
            name=str(item.get("name")),
            args=args if isinstance(args, dict) else {},
        )
        return ChatMessage(
            role="assistant", content="", tool_calls=[call], metadata={"id": item.get("id")}
        )
    if kind == "function_call_output":
        call_id = str(item.get("call_id"))
        return ChatMessage(
            role="tool",
            content=_text(item.get("output")) or str(item.get("output") or ""),
            name=(names or {}).get(call_id),
            tool_call_id=call_id,
        )
    role = item.get("role")
    if role in ("user", "assistant", "system") and kind in (None, "message"):
        meta = {"id": item["id"]} if item.get("id") else {}
        return ChatMessage(role=role, content=_text(item.get("content")), metadata=meta)
    return None


def _produced(items: Sequence[Mapping[str, Any]]) -> list[ChatMessage]:
    names = {
        str(i.get("call_id")): str(i.get("name")) for i in items if i.get("type") == "function_call"
    }
    out = []
    for item in items:
        if item.get("role") == "user":
            continue  # the turn's own input
        message = from_item(item, names)
        if message is not None:
            out.append(message)
    return out


def _interrupt(item: ToolApprovalItem) -> Interrupt:
    try:
        arguments: Any = json.loads(item.arguments or "{}")
    except ValueError:
        arguments = item.arguments
    return Interrupt(id=str(item.call_id), value={"tool": item.name, "arguments": arguments})


# -- the instance -------------------------------------------------------------------------------


class OpenAIAgentsInstance:
    """One session: the shared ``Agent`` and this session's items.

    The items live in a :class:`SessionfulSession`: the manager's store under ``persisted``
    (bound by :meth:`bind_store`, fenced by the session's lease), else the factory's in-process
    store. They are read once, then kept here; a turn runs ``Runner.run`` on them plus its new
    messages and, once it completes, appends what it produced in one write, so a failed or
    abandoned turn leaves the session as it was. A turn stopped by tool approvals keeps its
    ``RunState`` (as the SDK's JSON) with the session instead, until a resume finishes it.
    """

    def __init__(
        self,
        key: SessionKey,
        agent: Agent[Any],
        session: SessionfulSession,
        factory: OpenAIAgentsFactory,
    ) -> None:
        self.key = key
        self.agent = agent
        """The starting agent (shared by every session of this template version)."""
        self.session = session
        self._factory = factory
        self._items: list[Any] | None = None
        self._state: dict[str, Any] = {}
        self.destroyed = False

    async def bind_store(self, store: SessionStore, lease: Lease) -> None:
        """Keep this session's items in the manager's ``store``, fenced by ``lease``."""
        self.session = SessionfulSession(str(self.key), store, lease=lease)
        self._items = None

    async def _load(self) -> list[Any]:
        if self._items is None:
            self._items = list(await self.session.get_items())
            self._state = dict(await self.session.get_state() or {})
        return self._items

    def _agent_named(self, name: str | None) -> Agent[Any]:
        """The agent the conversation was handed to (found through the starting agent's
        handoffs), or the starting agent."""
        if not name or name == self.agent.name:
            return self.agent
        seen, queue = set(), [self.agent]
        while queue:
            agent = queue.pop()
            if agent.name == name:
                return agent
            seen.add(id(agent))
            for handoff in agent.handoffs:
                target = handoff if isinstance(handoff, Agent) else None
                if target is not None and id(target) not in seen:
                    queue.append(target)
        logger.warning(
            "agent %r is no longer reachable from %r; starting there", name, self.agent.name
        )
        return self.agent

    def _run_config(self) -> RunConfig:
        return RunConfig(tracing_disabled=not self._factory.settings.tracing)

    async def _prepare(self, request: TurnRequest) -> tuple[Agent[Any], Any, list[Any]]:
        """The agent to run, the runner's input (items or a resumed ``RunState``), and the items
        before this turn."""
        items = await self._load()
        pending = self._state.get("pending")
        if request.resume:
            if not pending:
                raise InvalidResume(self.key, request.resume, [])
            state = await RunState.from_json(
                self.agent, pending["run_state"], context_override=dict(request.context)
            )
            approvals = {str(item.call_id): item for item in state.get_interruptions()}
            unknown = set(request.resume) - set(approvals)
            if unknown:
                raise InvalidResume(self.key, unknown, approvals)
            for call_id, answer in request.resume.items():
                if answer is True or answer == "approve":
                    state.approve(approvals[call_id])
                elif answer is False or answer == "reject":
                    state.reject(approvals[call_id])
                else:
                    raise ConfigurationError(
                        f"resume answers a tool approval with True or 'approve', False or "
                        f"'reject'; not {answer!r}"
                    )
            return self._agent_named(self._state.get("agent")), state, items
        if pending:
            logger.info("session %s: a new message drops the pending approvals", self.key)
        agent = self._agent_named(self._state.get("agent"))
        return agent, [*items, *(to_item(m) for m in request.messages)], items

    async def _settle(self, result: Any, before: list[Any], request: TurnRequest) -> TurnOutput:
        """Store the finished (or interrupted) run and say what it produced."""
        pending = self._state.get("pending") if request.resume else None
        reported = int(pending.get("reported", 0)) if pending else 0
        used = result.context_wrapper.usage
        spent_in, spent_out = pending.get("usage", (0, 0)) if pending else (0, 0)
        usage = Usage(
            input_tokens=max(0, used.input_tokens - spent_in),
            output_tokens=max(0, used.output_tokens - spent_out),
        )
        full = result.to_input_list()
        delta = full[len(before) :]
        produced = _produced(delta)
        fresh = produced[reported:]
        agent_name = result.last_agent.name
        if result.interruptions:
            run_state = result.to_state().to_json()
            run_state.get("context", {})["context"] = {}  # per-turn context is never stored
            state = {
                "agent": agent_name,
                "pending": {
                    "run_state": run_state,
                    "reported": len(produced),
                    "usage": [used.input_tokens, used.output_tokens],
                },
            }
            await self.session.commit([], state)
            self._state = state
            interrupts = [_interrupt(item) for item in result.interruptions]
            return TurnOutput(messages=fresh, interrupts=interrupts, usage=usage)
        state = {"agent": agent_name} if agent_name != self.agent.name else {}
        await self.session.commit(delta, state or None)
        self._items = [*before, *delta]
        self._state = state
        return TurnOutput(messages=fresh, usage=usage)

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        """Run one turn with ``Runner.run``."""
        self._check()
        agent, run_input, before = await self._prepare(request)
        result = await Runner.run(
            agent,
            run_input,
            context=dict(request.context),
            max_turns=self._factory.settings.max_turns,
            run_config=self._run_config(),
        )
        return await self._settle(result, before, request)

    async def astream(
        self, request: TurnRequest
    ) -> AsyncIterator[ChatMessage | StreamEvent | TurnOutput]:
        """Run one turn with ``Runner.run_streamed``: text deltas as chunks (``metadata["index"]``
        numbers the turn's messages), tool calls, tool outputs, approvals and handoffs as
        ``StreamEvent(type="tool" | "agent", ...)``, then the turn's output. Nothing is stored
        unless the stream is consumed to its end."""
        self._check()
        agent, run_input, before = await self._prepare(request)
        result = Runner.run_streamed(
            agent,
            run_input,
            context=dict(request.context),
            max_turns=self._factory.settings.max_turns,
            run_config=self._run_config(),
        )
        order: dict[str, int] = {}
        finished = False
        try:
            async for event in result.stream_events():
                if isinstance(event, RawResponsesStreamEvent):
                    data = event.data
                    if isinstance(data, ResponseTextDeltaEvent) and data.delta:
                        index = order.setdefault(data.item_id, len(order))
                        yield ChatMessage.assistant(data.delta, metadata={"index": index})
                elif isinstance(event, RunItemStreamEvent):
                    payload = _event_payload(event)
                    if payload is not None:
                        yield StreamEvent(type="tool", data=payload)
                elif isinstance(event, AgentUpdatedStreamEvent):
                    yield StreamEvent(type="agent", data={"name": event.new_agent.name})
            finished = True
        finally:
            if not finished:
                result.cancel()
        yield await self._settle(result, before, request)

    def _check(self) -> None:
        if self.destroyed:
            raise RuntimeError(f"instance {self.key} used after destroy_agent")


def _event_payload(event: RunItemStreamEvent) -> dict[str, Any] | None:
    raw = getattr(event.item, "raw_item", None)
    if event.name in ("tool_called", "tool_approval_requested", "handoff_requested"):
        return {
            "event": event.name,
            "tool": getattr(raw, "name", None)
            or (raw.get("name") if isinstance(raw, Mapping) else None),
            "call_id": getattr(raw, "call_id", None)
            or (raw.get("call_id") if isinstance(raw, Mapping) else None),
            "arguments": getattr(raw, "arguments", None),
        }
    if event.name in ("tool_output", "handoff_occured"):
        call_id = raw.get("call_id") if isinstance(raw, Mapping) else getattr(raw, "call_id", None)
        return {
            "event": event.name,
            "call_id": call_id,
            "output": str(getattr(event.item, "output", "")),
        }
    return None


# -- the factory --------------------------------------------------------------------------------


class OpenAIAgentsFactory(AgentFactory):
    """Builds each ``(template, version, configuration)``'s ``Agent`` once; instances share it.

    Sessions the manager does not persist keep their items in the factory's in-process store
    (so an evicted session comes back, as a native framework's does, until it is ended).
    """

    def __init__(self, settings: OpenAIAgentsSettings) -> None:
        self.settings = settings
        self.local_store = MemoryStore()
        """Where sessions not bound to the manager's store keep their items."""
        self._agents: dict[tuple[str, str, str], Agent[Any]] = {}
        self.builds = 0
        """How many agents this factory has built (one per distinct template configuration)."""

    def agent_for(self, request: AgentCreateRequest) -> Agent[Any]:
        """The ``Agent`` for ``request``'s template and configuration (built once)."""
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
        agent = self._agents.get(cache_key)
        if agent is None:
            context = BuildContext(request.configuration, resolve_model(request.configuration))
            built = template.build(context)
            if not isinstance(built, Agent):
                raise ConfigurationError(
                    f"template {template.ref} built a {type(built).__name__}, not an agents.Agent"
                )
            agent = self._agents[cache_key] = built
            self.builds += 1
        return agent

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        """An instance over the shared ``Agent``; its items are read on its first turn."""
        session = SessionfulSession(str(request.key), self.local_store)
        return OpenAIAgentsInstance(request.key, self.agent_for(request), session, self)

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        """Drop the instance; on ``"ended"`` delete the session's items and run state too."""
        if not isinstance(instance, OpenAIAgentsInstance):
            raise TypeError(f"not an openai-agents instance: {instance!r}")
        instance.destroyed = True
        instance._items = None
        if reason == "ended":
            # Unfenced: the session is over, whoever held it (under ``persisted`` the manager
            # deletes the same items with the session, so this is a no-op there).
            await SessionfulSession(
                instance.session.session_id, instance.session.store
            ).clear_session()

    async def has_items(self, key: SessionKey) -> bool:
        """Whether the in-process store holds anything for ``key`` (for tests)."""
        session = SessionfulSession(str(key), self.local_store)
        return bool(await session.get_items(1)) or await session.get_state() is not None
