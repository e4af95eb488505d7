"""The data that crosses the public API: agents, messages, commands, results and statistics.

All are pydantic v2 models. Inputs (``AgentDefinition``, ``ExecuteAgentCommand``) are validated;
outputs the manager builds itself (``ExecutionResult``, ``SessionStats``) are constructed without
re-validation on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sessionful.content import ContentBlock, TextBlock, ToolCall, Usage, _lone_surrogate, _Text
from sessionful.keys import SessionKey, _check
from sessionful.templates import AgentTemplate

__all__ = [
    "AgentCreateRequest",
    "AgentDefinition",
    "EndReport",
    "ChatMessage",
    "ExecuteAgentCommand",
    "ExecutionResult",
    "InstanceEvent",
    "Interrupt",
    "ManagerStats",
    "Role",
    "SessionStats",
    "StreamEvent",
    "TurnOutput",
    "TurnRequest",
    "TurnStatus",
    "UnloadReason",
]

M = TypeVar("M", bound=BaseModel)


_new = object.__new__
# BaseModel's own slot descriptors, called directly: no attribute lookup through the class.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


_FIELDS: dict[type[BaseModel], set[str]] = {}
_ROLE_AND_CONTENT = {"role", "content"}
"""The fields-set of a message validated from a role and a content alone."""


def built(model: type[M], values: dict[str, Any], fields: set[str] | None = None) -> M:
    """``model.model_construct(**values)`` for the outputs the core and the service make on
    every turn, whose values they made themselves and which name every field of the model: the
    same object, without validation or model_construct's per-field default handling.
    ``values`` becomes the instance's ``__dict__``; callers pass a fresh dict, which costs less
    than keyword arguments. Every instance of a model shares one fields-set: it already names
    every field, so an assignment never adds to it, and pydantic copies it before a
    ``model_copy(update=...)`` does. ``fields`` replaces that set when the caller's instance
    stands for one validated from fewer fields (it is shared too, and never changed)."""
    if fields is None:
        fields = _FIELDS.get(model)
        if fields is None:
            fields = _FIELDS[model] = set(model.model_fields)
    instance = _new(model)
    _set_dict(instance, values)
    _set_fields(instance, fields)
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


Role = Literal["system", "user", "assistant", "tool"]
"""Who wrote a message."""

InstanceEvent = Literal["created", "reused", "restored"]
"""How a turn found its instance: made now, found live, or rebuilt from persisted state."""


UnloadReason = Literal["idle", "lifetime", "capacity", "evicted", "ended", "shutdown", "lease-lost"]
"""Why an instance was unloaded: idle past ``idle_timeout``, older than ``max_lifetime``, least
recently used at ``max_active``, ``evict()`` called, its session ended, the manager closing, or
another process took the session over. Only ``ended`` means the session is gone."""


class ChatMessage(BaseModel):
    """One message of a conversation.

    ``content`` is a string, or a list of typed content blocks (text, image, file, reasoning,
    provider-specific JSON; see :mod:`sessionful.content`); ``text`` reads the text either way.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: _Text | list[ContentBlock]
    name: _Text | None = None
    """The tool's name for ``role="tool"``, or a participant's name."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Tools an assistant message calls."""
    tool_call_id: str | None = None
    """For ``role="tool"``: the id of the call this message answers."""
    usage: Usage | None = None
    """Tokens the model call that wrote this message used, when the framework reports it."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Adapter-specific extras (response metadata, ids, a tool result's status); JSON-able."""

    @property
    def text(self) -> str:
        """The message's text: ``content`` itself, or its text blocks joined."""
        content = self.content
        if isinstance(content, str):
            return content
        return "".join(block.text for block in content if isinstance(block, TextBlock))

    @classmethod
    def user(cls, content: str, **extra: Any) -> ChatMessage:
        """A message from the user."""
        return cls._plain("user", content, extra)

    @classmethod
    def assistant(cls, content: str, **extra: Any) -> ChatMessage:
        """A message from the agent."""
        return cls._plain("assistant", content, extra)

    @classmethod
    def system(cls, content: str, **extra: Any) -> ChatMessage:
        """A system instruction."""
        return cls._plain("system", content, extra)

    @classmethod
    def _plain(cls, role: Role, content: str, extra: dict[str, Any]) -> ChatMessage:
        # The common message, a role and a string, is checked here and built without running
        # the whole schema (a turn makes two); the result equals, and dumps like, its validated
        # twin, down to the fields-set. Anything else (a lone surrogate included, so that it
        # fails with the same ValidationError) is validated as given.
        if extra or type(content) is not str or cls is not ChatMessage or _lone_surrogate(content):
            return cls(role=role, content=content, **extra)
        return built(
            cls,
            {
                "role": role,
                "content": content,
                "name": None,
                "tool_calls": [],
                "tool_call_id": None,
                "usage": None,
                "metadata": {},
            },
            _ROLE_AND_CONTENT,
        )

    @classmethod
    def tool(cls, content: str, name: str, **extra: Any) -> ChatMessage:
        """A tool's result."""
        return cls(role="tool", content=content, name=name, **extra)

    # The original design's spelling, kept so its examples run unchanged.
    @classmethod
    def create_user_message(cls, content: str) -> ChatMessage:
        """Alias of :meth:`user`, the original design's name."""
        return cls.user(content)


class AgentDefinition(BaseModel):
    """An agent in the catalog: what to build when one of its sessions needs an instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """The agent's id: the first part of its session keys."""
    name: str
    template_id: str
    """The template its instances are built from (for LangGraph, a registered template)."""
    template_version: str = "1"
    """The template version new sessions get; a session keeps the version it was created on."""
    configuration: dict[str, Any] = Field(default_factory=dict)
    """Passed to the template (for LangGraph: ``model``, ``tools``, ...)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Copied into every ``AgentCreateRequest.metadata``."""

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        _check("agent_id", value, optional=False)
        return value


class AgentCreateRequest(BaseModel):
    """What the manager asks an :class:`~sessionful.AgentFactory` to build.

    ``id`` is the session key's string form (``customer-service-bot#session-abc-123``);
    ``metadata`` is the definition's metadata plus ``session_id``, ``base_agent_id`` and
    ``created_for_session``, as in the original design. ``template`` is the registered template
    when the framework ``uses_templates``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    key: SessionKey
    name: str
    template_id: str
    template_version: str
    configuration: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    template: AgentTemplate | None = None

    @classmethod
    def for_session(
        cls, agent: AgentDefinition, key: SessionKey, template: AgentTemplate | None = None
    ) -> AgentCreateRequest:
        """The request for ``agent``'s instance named ``key``."""
        session_id = key.session_id
        name = agent.name if session_id is None else f"{agent.name} (Session: {session_id[:8]})"
        return cls(
            id=str(key),
            key=key,
            name=name,
            template_id=agent.template_id,
            template_version=agent.template_version,
            configuration=dict(agent.configuration),
            metadata={
                **agent.metadata,
                "session_id": session_id,
                "base_agent_id": agent.id,
                "created_for_session": session_id is not None,
            },
            template=template,
        )


class Interrupt(BaseModel):
    """A question the agent asks before it goes on (an approval, a missing detail).

    The turn that raised it ends ``interrupted``; the session's next turn answers it with
    ``ExecuteAgentCommand(resume={interrupt.id: answer})``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    value: Any = None
    """What the agent asks, as JSON (a string, or an object such as a tool and its arguments)."""


TurnStatus = Literal["completed", "interrupted"]
"""How a turn ended: done, or waiting for answers to its interrupts."""


class ExecuteAgentCommand(BaseModel):
    """One turn: new messages (and/or answers to pending interrupts) for ``agent_id`` in
    ``session_id``.

    ``session_id=None`` runs on the agent-level instance, as the original design's fallback
    does. ``principal`` namespaces the session, so two principals' equal session ids never meet.
    ``context`` reaches the agent for this turn only and is never stored. ``resume`` answers
    pending interrupts by id; a turn that resumes may carry no messages.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent_id: str
    session_id: str | None = None
    messages: list[ChatMessage] = Field(default_factory=list)
    principal: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    """Per-turn data for the agent (the end user's id, a locale); JSON; not stored."""
    resume: dict[str, Any] | None = None
    """Answers to pending interrupts, by interrupt id."""

    @model_validator(mode="after")
    def _has_input(self) -> ExecuteAgentCommand:
        if not self.messages and not self.resume:
            raise ValueError("a turn needs messages, or resume answers to pending interrupts")
        return self


_NOTHING: Mapping[str, Any] = MappingProxyType({})


class TurnRequest(NamedTuple):
    """What an :class:`~sessionful.AgentInstance` receives for one turn.

    A named tuple, not a pydantic model: the manager builds one on every turn from an already
    validated command, so it is the cheapest immutable value that reads as one (``_replace``
    makes a changed copy). Treat its contents as read-only.
    """

    messages: Sequence[ChatMessage] = ()
    """The turn's new messages (empty when it only resumes)."""
    context: Mapping[str, Any] = _NOTHING
    """Per-turn context; not to be kept past the turn."""
    resume: Mapping[str, Any] = _NOTHING
    """Answers to the instance's pending interrupts, by interrupt id."""


class TurnOutput(BaseModel):
    """What an instance returns for one turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: list[ChatMessage] = Field(default_factory=list)
    """Only the messages the agent produced, in order."""
    interrupts: list[Interrupt] = Field(default_factory=list)
    """The questions still open when the turn stopped (empty: the turn completed)."""
    usage: Usage | None = None
    """Tokens the turn used; ``None`` sums the messages' own ``usage``."""


class StreamEvent(BaseModel):
    """A typed event a stream carries besides text chunks (a framework's ``updates`` or
    ``custom`` payloads, tool events)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    """What kind of event: ``"updates"``, ``"custom"``, ``"tool"``, or an adapter's own."""
    data: Any = None
    """Its JSON payload."""


class SessionStats(BaseModel):
    """Analytics of one session, as of the end of its latest turn. Times are the manager's clock."""

    model_config = ConfigDict(frozen=True)

    message_count: int
    """Messages in and out across all turns."""
    turn_count: int
    created_at: float
    last_activity: float
    duration: float
    """``last_activity - created_at``, in seconds."""
    response_time_mean: float | None
    """Mean seconds per turn, or ``None`` before the first turn."""
    response_time_p95: float | None
    """95th percentile of seconds per turn over the latest turns (see ``docs/concepts.md``)."""
    input_tokens: int = 0
    """Tokens in, over all turns that reported usage."""
    output_tokens: int = 0
    """Tokens out, over all turns that reported usage."""
    interrupts: list[Interrupt] = Field(default_factory=list)
    """Interrupts waiting for an answer (the next turn must resume them)."""
    feedback_count: int = 0
    """Ratings recorded for the session (:meth:`~sessionful.SessionManager.record_feedback`)."""
    feedback_mean: float | None = None
    """Their mean, or ``None`` without any."""


class ExecutionResult(BaseModel):
    """What one turn produced."""

    model_config = ConfigDict(frozen=True)

    session_key: SessionKey
    messages: list[ChatMessage]
    """The messages the agent produced in this turn, in order."""
    instance_event: InstanceEvent
    stats: SessionStats
    status: TurnStatus = "completed"
    interrupts: list[Interrupt] = Field(default_factory=list)
    """What the agent asks before it goes on (``status == "interrupted"``)."""
    usage: Usage | None = None
    """Tokens this turn used, when the framework reports them."""


class EndReport(BaseModel):
    """What ``end_session`` did. True when anything was ended."""

    model_config = ConfigDict(frozen=True)

    key: SessionKey
    unloaded: bool
    """A live instance was destroyed."""
    deleted: dict[str, int] = Field(default_factory=dict)
    """Persisted items deleted, by kind (empty without a store)."""

    def __bool__(self) -> bool:
        return self.unloaded or any(self.deleted.values())


class ManagerStats(BaseModel):
    """Manager-wide counters since construction, and the active gauge."""

    model_config = ConfigDict(frozen=True)

    created: int
    reused: int
    restored: int
    evicted: int
    expired: int
    ended: int
    failed: int
    """Turns or creations that raised."""
    active: int
