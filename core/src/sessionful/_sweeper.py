"""The background sweeper: calls a sweep every ``interval`` seconds until stopped. Stopping
never cuts a sweep in progress, whose victims are already out of the registry: cancelling it
mid-destroy would strand them undestroyed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Sweeper"]

logger = logging.getLogger("sessionful")


class Sweeper:
    """Runs ``sweep()`` every ``interval`` seconds in a task of its own."""

    def __init__(self, sweep: Callable[[], Awaitable[object]], interval: float) -> None:
        self._sweep = sweep
        self._interval = interval
        self._sweeping = False
        self._task: asyncio.Task[None] | None = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self._task is asyncio.current_task():
            await asyncio.sleep(self._interval)
            self._sweeping = True
            try:
                await self._sweep()
            except Exception:
                logger.exception("session sweep failed; will retry in %s s", self._interval)
            finally:
                self._sweeping = False

    async def stop(self) -> None:
        """Cancel a sleeping sweeper, or let a running sweep finish (the loop then stops, as it
        is no longer current); return once the task is done."""
        task, self._task = self._task, None
        if task is None:
            return
        if not self._sweeping:
            task.cancel()
        await asyncio.wait([task])  # never re-raises, so our own cancellation propagates
