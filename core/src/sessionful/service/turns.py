"""A turn with a time limit, for both forms: the one place the service's ``turn_timeout`` is
applied (:class:`~sessionful.service.app.AgentService` runs its turns here, and so does the
command line's ``chat``).

A stream here always ends with the turn's :class:`~sessionful.ExecutionResult` (stats, instance
event, the whole messages), so no caller reassembles chunks or reads stats after the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from sessionful.errors import SessionError
from sessionful.manager import SessionManager
from sessionful.models import ChatMessage, ExecuteAgentCommand, ExecutionResult, StreamEvent

__all__ = ["TurnItem", "TurnTimeout", "execute_turn", "stream_turn"]

TurnItem = ChatMessage | StreamEvent | ExecutionResult
"""What a stream yields: ``ChatMessage`` chunks and typed ``StreamEvent``s as they come, then one
``ExecutionResult``, last."""


class TurnTimeout(SessionError, TimeoutError):
    """A turn took longer than ``limits.turn_timeout``; it was cancelled and not acknowledged."""


def _timed_out(timeout: float) -> TurnTimeout:
    return TurnTimeout(None, f"the turn took longer than its turn_timeout ({timeout:g} s)")


async def execute_turn(
    manager: SessionManager, command: ExecuteAgentCommand, timeout: float, *, create: bool = True
) -> ExecutionResult:
    """``manager.execute(command, create=create)``, cancelled after ``timeout`` seconds
    (``TurnTimeout``)."""
    try:
        return await asyncio.wait_for(manager.execute(command, create=create), timeout)
    except asyncio.TimeoutError:
        raise _timed_out(timeout) from None


async def stream_turn(
    manager: SessionManager, command: ExecuteAgentCommand, timeout: float, *, create: bool = True
) -> AsyncGenerator[TurnItem, None]:
    """``manager.stream(command, create=create)`` within ``timeout`` seconds for the whole
    turn: its chunks as they come, then the turn's ``ExecutionResult``, last. Past the deadline
    the manager's stream is closed (the turn is not acknowledged) and ``TurnTimeout`` raised.

    The manager's stream is run to its end before the result is yielded, so the session's turn
    gate is free by the time a caller sees the result. Close an abandoned stream promptly
    (``contextlib.aclosing``): until then it holds the session's turn gate.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    items = manager.stream(command, create=create)
    result: ExecutionResult | None = None
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise _timed_out(timeout)
            try:
                item = await asyncio.wait_for(_next(items), remaining)
            except asyncio.TimeoutError:
                raise _timed_out(timeout) from None
            if item is None:
                break
            if isinstance(item, ExecutionResult):
                result = item
                continue  # the manager's last item; let its stream finish
            yield item
    finally:
        await _close(items)
    if result is None:  # SessionManager.stream always ends with one
        raise RuntimeError("the manager's stream ended without the turn's result")
    yield result


async def _next(items: AsyncIterator[TurnItem]) -> TurnItem | None:
    try:
        return await items.__anext__()
    except StopAsyncIteration:
        return None


async def _close(items: AsyncIterator[TurnItem]) -> None:
    """Close the manager's stream (its turn gate is released then) and wait for it, even when
    this task is being cancelled; a cancellation is re-raised once the stream is closed."""
    close = getattr(items, "aclose", None)
    if close is None:
        return
    closing = asyncio.ensure_future(close())
    cancelled = False
    while True:
        try:
            await asyncio.shield(closing)
            break
        except asyncio.CancelledError:
            if closing.done():
                raise
            cancelled = True  # anyio cancels again at every await: wait on until closed
    if cancelled:
        raise asyncio.CancelledError
