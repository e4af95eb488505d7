"""One turn's mechanics, apart from the manager's orchestration: the request an instance gets
(pending interrupts checked against ``resume``), a stream joined into the turn's output, and the
turn's usage."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sessionful.content import TextBlock, Usage
from sessionful.errors import InterruptPending, InvalidResume
from sessionful.factory import AgentInstance, SupportsStream
from sessionful.keys import SessionKey
from sessionful.models import (
    ChatMessage,
    ExecuteAgentCommand,
    Interrupt,
    StreamEvent,
    TurnOutput,
    TurnRequest,
    built,
)

__all__ = ["stream_turn", "turn_request", "turn_usage"]


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
    return built(TurnRequest, messages=command.messages, context=command.context, resume=resume)


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
        final = built(
            TurnOutput,
            messages=[
                _joined(first, parts) for first, parts in (pieces[i] for i in sorted(pieces))
            ],
            interrupts=[],
            usage=None,
        )
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
