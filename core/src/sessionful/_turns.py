"""Running one turn on an acquired instance: the request it gets (pending interrupts checked
against ``resume``), its output (a stream joined into it), its usage, its acknowledgement
(persisted, counted, announced). :class:`SessionTurns` is the manager's ``execute`` and
``stream``; acquiring and unloading instances stay in the manager's own module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from sessionful._persistence import Persistence, WriteUnknown
from sessionful._plugins import LifecycleHooks
from sessionful._registry import Entry, Registry
from sessionful.content import TextBlock, Usage
from sessionful.errors import InterruptPending, InvalidResume
from sessionful.factory import AgentInstance, SupportsStream
from sessionful.keys import SessionKey
from sessionful.models import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    InstanceEvent,
    Interrupt,
    StreamEvent,
    TurnOutput,
    TurnRequest,
    UnloadReason,
    built,
)

_E = Entry[AgentInstance]

__all__ = ["SessionTurns", "stream_turn", "turn_request", "turn_usage"]


def turn_request(
    key: SessionKey, command: ExecuteAgentCommand, pending: Sequence[Interrupt]
) -> TurnRequest:
    """The instance's request for ``command``; raises ``InterruptPending`` when the session
    waits for answers the command does not give, ``InvalidResume`` when it answers interrupts
    that are not pending."""
    resume = command.resume or {}
    if pending or resume:
        ids = {interrupt.id for interrupt in pending}
        if not resume:
            raise InterruptPending(key, pending)
        unknown = resume.keys() - ids
        if unknown:
            raise InvalidResume(key, unknown, ids)
    return TurnRequest(command.messages, command.context, resume)


def turn_usage(output: TurnOutput) -> Usage | None:
    """The turn's usage: the instance's own figure, else the sum of its messages' usage."""
    if output.usage is not None:
        return output.usage
    total = None
    for message in output.messages:
        if message.usage is not None:
            total = message.usage if total is None else total + message.usage
    return total


async def stream_turn(
    instance: AgentInstance, request: TurnRequest
) -> AsyncGenerator[ChatMessage | StreamEvent | TurnOutput, None]:
    """The instance's chunks and events as they come, then the turn's :class:`TurnOutput` last:
    the instance's own, or its chunks joined by ``metadata["index"]``. Instances without
    ``astream`` yield each whole message as one chunk."""
    if not isinstance(instance, SupportsStream):
        output = await instance.ainvoke(request)
        for index, message in enumerate(output.messages):
            yield message.model_copy(update={"metadata": {**message.metadata, "index": index}})
        yield output
        return
    pieces: dict[int, tuple[ChatMessage, list[Any]]] = {}
    final: TurnOutput | None = None
    items = instance.astream(request)
    try:
        async for item in items:
            if isinstance(item, TurnOutput):
                final = item
                continue
            if isinstance(item, ChatMessage):
                index = item.metadata.get("index", 0)
                if index in pieces:
                    pieces[index][1].append(item.content)
                else:
                    pieces[index] = (item, [item.content])
            yield item
    finally:
        close = getattr(items, "aclose", None)  # an async generator: stop it now, not at GC
        if close is not None:
            await close()
    if final is None:
        joined = [_joined(first, parts) for first, parts in (pieces[i] for i in sorted(pieces))]
        final = built(TurnOutput, {"messages": joined, "interrupts": [], "usage": None})
    yield final


def _joined(first: ChatMessage, parts: list[Any]) -> ChatMessage:
    """A message from its chunks: text concatenated, block lists chained."""
    if all(isinstance(part, str) for part in parts):
        content: Any = "".join(parts)
    else:
        content = [
            block
            for part in parts
            for block in ([TextBlock(text=part)] if isinstance(part, str) else part)
        ]
    return first.model_copy(update={"content": content})


class SessionTurns:
    """The manager's turn methods (see :class:`~sessionful.SessionManager`)."""

    _clock: Callable[[], float]
    _counts: dict[str, int]
    _persistence: Persistence
    _registry: Registry
    _on_turn: LifecycleHooks
    _on_interrupted: LifecycleHooks

    if TYPE_CHECKING:

        def _target(
            self, agent_id: str, session_id: str | None, namespace: str | None
        ) -> tuple[AgentDefinition, SessionKey]: ...

        async def _acquire(
            self, key: SessionKey, agent: AgentDefinition, create: bool = True
        ) -> tuple[_E, InstanceEvent]: ...

        def _detach(self, key: SessionKey, entry: _E) -> None: ...

        async def _destroy(self, entry: _E, reason: UnloadReason) -> str | None: ...

    async def execute(
        self, command: ExecuteAgentCommand, *, create: bool = True
    ) -> ExecutionResult:
        """Run one turn on the session's instance, creating it on first use (``create=False``:
        only on a session that exists, as a service does once sessions are made explicitly).

        A turn either completes or stops with interrupts (``result.status == "interrupted"``,
        ``result.interrupts``); the session's next turn answers them with ``resume``.

        Raises:
            UnknownAgent: the agent id is not registered.
            InvalidSessionKey: an id cannot name a session.
            SessionBusy: a turn is in flight and the overlap policy is ``reject``.
            CapacityExceeded: ``max_active`` instances are all mid-turn.
            AgentCreationFailed: the adapter's ``create_agent`` raised (chained).
            InterruptPending: the session waits for answers and the command has no ``resume``.
            InvalidResume: ``resume`` names interrupts that are not pending.
            SessionNotFound: ``create=False`` and the session does not exist (never made, or
                ended or purged anywhere).
            Whatever the instance's ``ainvoke`` raises; the instance stays live.
        """
        agent, key = self._target(command.agent_id, command.session_id, command.principal)
        entry, event = await self._acquire(key, agent, create)
        try:
            request = turn_request(key, command, entry.pending)
            started = self._clock()
            try:
                output = await entry.instance.ainvoke(request)
            except Exception:
                self._counts["failed"] += 1
                raise
            result, duration = await self._complete(entry, event, started, command, output)
        finally:
            entry.leave()
        if self._on_turn.active or self._on_interrupted.active:  # most turns: no observer
            self._announce(result, duration)
        return result

    async def stream(
        self, command: ExecuteAgentCommand, *, create: bool = True
    ) -> AsyncGenerator[ChatMessage | StreamEvent | ExecutionResult, None]:
        """Run one turn like :meth:`execute`, yielding its output as it comes, and last the
        turn's :class:`ExecutionResult` (the whole messages, status, interrupts, usage, stats,
        instance event), exactly what ``execute`` would have returned: no caller reassembles
        chunks or reads stats afterwards (which would race the session's next queued turn).

        Chunks are ``ChatMessage`` pieces; ``metadata["index"]`` says which output message each
        belongs to. :class:`StreamEvent` items carry an adapter's typed events. The turn counts
        (stats, ``turn_completed``) only when the stream completes; a stream that fails or is
        abandoned leaves the session usable. The session's turn gate is held until the generator
        finishes, so close an abandoned one promptly:
        ``async with contextlib.aclosing(manager.stream(cmd)) as items: ...``.
        """
        agent, key = self._target(command.agent_id, command.session_id, command.principal)
        entry, event = await self._acquire(key, agent, create)
        try:
            request = turn_request(key, command, entry.pending)
            started = self._clock()
            output = None
            try:
                async with aclosing(stream_turn(entry.instance, request)) as items:
                    async for item in items:
                        if isinstance(item, TurnOutput):
                            output = item
                        else:
                            yield item
            except Exception:
                self._counts["failed"] += 1
                raise
            assert output is not None, "stream_turn ends with the turn's output"
            result, duration = await self._complete(entry, event, started, command, output)
        finally:
            entry.leave()
        if self._on_turn.active or self._on_interrupted.active:  # most turns: no observer
            self._announce(result, duration)
        yield result

    async def _complete(
        self,
        entry: _E,
        event: InstanceEvent,
        started: float,
        command: ExecuteAgentCommand,
        output: TurnOutput,
    ) -> tuple[ExecutionResult, float]:
        """Acknowledge a turn: persist it (``persisted``), then count it; the entry becomes the
        most recently used. Returns the turn's result and its duration."""
        finished = self._clock()
        received, produced, interrupts = command.messages, output.messages, output.interrupts
        usage = output.usage
        if usage is None and produced:
            usage = turn_usage(output)
        cancelled = False
        try:
            if self._persistence.durable:
                await self._persistence.append(
                    entry, received, produced, finished - started, interrupts, usage
                )
        except asyncio.CancelledError:
            # The caller went away while the write committed (append finishes its write before
            # it lets a cancellation through): the turn is stored, so it is acknowledged here
            # too, in the stats and the hooks, and the instance stays; then the caller stops.
            cancelled = True
        except BaseException as exc:
            # The instance is ahead of the store now, so it goes (the next turn restores).
            self._counts["failed"] += 1
            if not entry.closed:
                self._detach(entry.key, entry)
                unknown = isinstance(exc, WriteUnknown)
                await self._destroy(entry, "evicted" if unknown else "lease-lost")
            if isinstance(exc, WriteUnknown):
                raise asyncio.CancelledError from exc
            raise
        entry.record_turn(started, finished, len(received) + len(produced))
        entry.pending = interrupts
        if usage is not None:
            entry.tokens_in += usage.input_tokens
            entry.tokens_out += usage.output_tokens
        self._registry.index.touch(entry.key)
        result = built(
            ExecutionResult,
            {
                "session_key": entry.key,
                "messages": produced,
                "instance_event": event,
                "stats": entry.stats(),
                "status": "interrupted" if interrupts else "completed",
                "interrupts": interrupts,
                "usage": usage,
            },
        )
        if cancelled:
            self._announce(result, finished - started)
            raise asyncio.CancelledError
        return result, finished - started

    def _announce(self, result: ExecutionResult, duration: float) -> None:
        """The turn hooks, once the session's gate is released."""
        if self._on_turn.active:
            self._on_turn(
                key=result.session_key,
                messages=result.messages,
                duration=duration,
                stats=result.stats,
                instance_event=result.instance_event,
                status=result.status,
                usage=result.usage,
            )
        if result.interrupts and self._on_interrupted.active:
            self._on_interrupted(
                key=result.session_key,
                interrupts=result.interrupts,
                stats=result.stats,
                instance_event=result.instance_event,
            )
