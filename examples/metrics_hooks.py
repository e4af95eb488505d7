"""Observe a manager with lifecycle hooks: a metrics plugin in a dozen lines.

Any object (or module) with ``@hookimpl`` methods named after the hooks in
``sessionful.hookspecs`` is a plugin. Give it to one manager with ``plugins=[...]``; it sees
only that manager's sessions. A hook may take any subset of its arguments, by name. Hooks only
observe: their return values are ignored and an exception in one is logged, never raised into a
turn. See docs/hooks.md for every hook and its arguments.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Sequence

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    SessionKey,
    SessionManager,
    hookimpl,
)


class Metrics:
    """Counts lifecycle events and records each turn's response time."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.response_times: list[float] = []

    @hookimpl
    def session_created(self, key: SessionKey) -> None:
        self.events["created"] += 1

    @hookimpl
    def session_reused(self, key: SessionKey) -> None:
        self.events["reused"] += 1

    @hookimpl
    def turn_completed(self, messages: Sequence[ChatMessage], duration: float) -> None:
        self.events["turns"] += 1
        self.events["replies"] += len(messages)
        self.response_times.append(duration)

    @hookimpl
    def session_evicted(self, reason: str) -> None:
        self.events[f"evicted:{reason}"] += 1

    @hookimpl
    def session_ended(self, key: SessionKey) -> None:
        self.events["ended"] += 1


async def main() -> None:
    metrics = Metrics()
    async with SessionManager(
        framework="stub",
        framework_settings={"invoke_latency": 0.002},  # the stub sleeps 2 ms per turn
        plugins=[metrics],
        agents=[AgentDefinition(id="support", name="Support", template_id="echo")],
    ) as manager:
        for session_id, text in [
            ("alice", "Hi"),
            ("bob", "Hello"),
            ("alice", "Where is my parcel?"),
            ("alice", "Thanks"),
            ("bob", "Bye"),
        ]:
            await manager.execute(
                ExecuteAgentCommand(
                    agent_id="support", session_id=session_id, messages=[ChatMessage.user(text)]
                )
            )
        await manager.end_session("support", "bob")
    # Leaving `async with` unloaded alice's instance: reason "shutdown".

    for name, count in sorted(metrics.events.items()):
        print(f"{name}: {count}")
    times = metrics.response_times
    mean_ms, max_ms = statistics.mean(times) * 1000, max(times) * 1000
    print(f"response time: mean {mean_ms:.1f} ms, max {max_ms:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
