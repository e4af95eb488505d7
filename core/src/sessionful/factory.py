"""The adapter boundary: what a framework plugin implements. Kept small on purpose.

A plugin registers a :class:`Framework`; the manager asks it once for an :class:`AgentFactory`;
the factory builds and destroys :class:`AgentInstance` objects, one per session key. The manager
owns the registry of live instances, so adapters never keep their own ``active_agents``.

A turn is one request in, one result out (in the spirit of httpx's transport): the instance gets
a :class:`~sessionful.TurnRequest` (the new messages, the turn's context, answers to its pending
interrupts) and returns a :class:`~sessionful.TurnOutput` (the messages it produced, the
interrupts it raised, its usage).

Optional abilities are plain methods an instance may have, described by runtime-checkable
protocols: :class:`SupportsStream` (``astream``; without it ``SessionManager.stream`` yields each
whole message once), :class:`SupportsSnapshot` (async ``snapshot`` / ``restore``, required
when ``persistence="snapshot"``) and :class:`SupportsNativeState` (``bind_store``: a
``persistence="native"`` instance keeps its state in the manager's store, fenced) and
:class:`SupportsHistory` (``state_history``: the checkpoints a framework keeps of a session).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from sessionful.keys import SessionKey
from sessionful.models import (
    AgentCreateRequest,
    ChatMessage,
    StreamEvent,
    TurnOutput,
    TurnRequest,
    UnloadReason,
)

if TYPE_CHECKING:
    from sessionful.stores.base import Lease, SessionStore

__all__ = [
    "AgentFactory",
    "AgentInstance",
    "Framework",
    "Persistence",
    "SupportsHistory",
    "SupportsNativeState",
    "SupportsSnapshot",
    "SupportsStream",
]

Persistence = Literal["native", "snapshot"]
"""How a framework's session state survives its instance: its own store, or the core's."""


@runtime_checkable
class AgentInstance(Protocol):
    """One live agent, bound to one session key.

    The manager never runs two turns on one instance at once, and never calls it after
    ``destroy_agent``.
    """

    key: SessionKey

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        """Run one turn: the new messages, the turn's context, answers to pending interrupts in
        ``request``; return only the messages the agent produced, the interrupts still open when
        it stopped, and its usage."""
        ...


@runtime_checkable
class SupportsStream(Protocol):
    """An instance that can stream a turn."""

    def astream(
        self, request: TurnRequest
    ) -> AsyncIterator[ChatMessage | StreamEvent | TurnOutput]:
        """Yield the turn's output in chunks as it is produced, then (optionally) its
        :class:`~sessionful.TurnOutput`.

        A chunk is a ``ChatMessage`` holding a piece of one output message; ``metadata["index"]``
        (default 0) says which message of the turn it belongs to, and the pieces of a message
        concatenate to its content. A :class:`~sessionful.StreamEvent` carries a typed payload
        (a framework's ``updates`` or ``custom`` events). A final ``TurnOutput``, when yielded,
        is the turn's result (whole messages, interrupts, usage); without one the manager joins
        the chunks. If the consumer stops early, the instance must be left as if the turn had
        not happened.
        """
        ...


@runtime_checkable
class SupportsSnapshot(Protocol):
    """An instance whose state the core can persist (``Framework.persistence == "snapshot"``)."""

    async def snapshot(self) -> dict[str, Any]:
        """The instance's conversation state as a JSON-able dict (pending interrupts included)."""
        ...

    async def restore(
        self, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
    ) -> None:
        """Rebuild a freshly created instance: from ``snapshot`` (the latest one stored, or
        ``None`` if none was), then the ``messages`` of the turns logged after it, in order.

        With ``Framework.snapshot_every == 1`` the snapshot covers every acknowledged turn and
        ``messages`` is empty; with ``0`` the instance must rebuild itself from the messages.
        """
        ...


@runtime_checkable
class SupportsNativeState(Protocol):
    """An instance of a ``persistence="native"`` framework that keeps its session's state in the
    manager's store, so that the ``persisted`` strategy's leases fence it."""

    async def bind_store(self, store: SessionStore, lease: Lease) -> None:
        """Called under ``persisted`` once the instance is created and its session claimed,
        before its first turn: from now on keep (and reload) the session's state in ``store``
        (for example through :func:`sessionful.stores.item_log_for`), every write naming
        ``lease``, so a write after another process claimed the session raises ``LeaseLost``
        and lands nothing. When the session ends, the manager deletes its item log too."""
        ...


@runtime_checkable
class SupportsHistory(Protocol):
    """An instance whose framework keeps a history of its session's states (LangGraph's
    checkpoints); ``SessionManager.state_history`` reads it."""

    async def state_history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The session's saved states, newest first, at most ``limit``, as JSON objects (for
        LangGraph: ``checkpoint_id``, ``created_at``, ``next``, ``interrupts``, ``messages``)."""
        ...


@runtime_checkable
class AgentFactory(Protocol):
    """Builds and destroys instances. Adapters may subclass it to inherit the default methods."""

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        """Build the instance for ``request.key``. Called once per key at a time."""
        ...

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        """Release what ``instance`` holds (connections, threads).

        ``reason`` says why it goes. Only ``"ended"`` means the session is over: then delete
        what the framework keeps for it (checkpoints, a session's items). Every other reason
        (``idle``, ``lifetime``, ``capacity``, ``evicted``, ``shutdown``, ``lease-lost``) unloads
        it for now: keep its data, the session may come back. The default does nothing. Errors
        are logged by the manager and do not stop a sweep.
        """
        return None


class Framework:
    """What a plugin registers: a name, capabilities, and a way to make an :class:`AgentFactory`.

    Subclass it and set the class attributes; the manager reads them, it does not probe.
    """

    name: ClassVar[str]
    """The name users pass as ``SessionManager(framework=...)``."""
    persistence: ClassVar[Persistence | None] = None
    """``"native"``: the framework persists its own state; ``"snapshot"``: its instances
    implement :class:`SupportsSnapshot` and the core stores the snapshot; ``None``: in memory."""
    snapshot_every: ClassVar[int] = 1
    """With ``persistence == "snapshot"``: store a snapshot every this many turns (``1``: with
    every turn, in the same write; ``0``: only when the instance is unloaded; the turns after
    the snapshot are replayed from the message log by ``restore``). An instance may carry its
    own ``snapshot_every`` attribute, which then wins (say, when only some graphs replay)."""
    interrupts: ClassVar[bool] = False
    """True when instances can stop a turn with interrupts and take ``resume`` answers (human
    in the loop); the conformance suite then checks the cycle."""
    uses_templates: ClassVar[bool] = False
    """True when agents name registered templates: the manager checks ``template_id`` and
    ``template_version`` at ``register_agent`` and passes the template in the request."""

    def create_agent_factory(self, settings: Mapping[str, Any]) -> AgentFactory:
        """Make the factory the manager will use; ``settings`` are the manager's
        ``framework_settings``, passed through untouched."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Framework {getattr(self, 'name', '?')!r}>"
