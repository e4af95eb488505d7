"""Fakes the tests share: a clock that moves only when told to, a plugin recording every
lifecycle hook, and a framework whose every step a test can hold or script."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

from sessionful import (
    AgentCreateRequest,
    AgentFactory,
    AgentInstance,
    ChatMessage,
    ExecuteAgentCommand,
    Framework,
    SessionKey,
    SessionManager,
    SessionStats,
    TurnOutput,
    TurnRequest,
    UnloadReason,
    hookimpl,
)

BOT = "customer-service-bot"
"""The agent conftest's ``make_manager`` registers (``bot`` fixture) and ``cmd`` addresses."""

Make = Callable[..., SessionManager]
"""The ``make_manager`` fixture."""
Cmd = Callable[..., ExecuteAgentCommand]
"""The ``cmd`` fixture."""
Timed = Callable[[list[float]], "ControlledFramework"]
"""The ``timed_framework`` fixture."""


class FakeClock:
    """A clock that only moves when told to. Call it for the time; ``advance`` to move it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock never goes back"
        self.now += seconds


class Recorder:
    """A plugin that records every lifecycle hook call, in order.

    ``events`` holds ``(hook, key)`` pairs; ``trace`` the same calls with what tells them apart
    (the eviction's reason, whether the end had stats, the turn's instance event).
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.trace: list[tuple[Any, ...]] = []
        self.created: list[SessionKey] = []
        self.reused: list[SessionKey] = []
        self.evicted: list[tuple[SessionKey, str]] = []
        self.ended: list[tuple[SessionKey, SessionStats | None]] = []
        self.turns: list[dict[str, Any]] = []

    @hookimpl
    def session_created(self, key: SessionKey, instance: AgentInstance) -> None:
        self.created.append(key)
        self.events.append(("created", key))
        self.trace.append(("created", key))

    @hookimpl
    def session_reused(self, key: SessionKey) -> None:
        self.reused.append(key)
        self.events.append(("reused", key))
        self.trace.append(("reused", key))

    @hookimpl
    def session_evicted(self, key: SessionKey, reason: str) -> None:
        self.evicted.append((key, reason))
        self.events.append(("evicted", key))
        self.trace.append(("evicted", key, reason))

    @hookimpl
    def session_ended(self, key: SessionKey, stats: SessionStats | None) -> None:
        self.ended.append((key, stats))
        self.events.append(("ended", key))
        self.trace.append(("ended", key, stats is not None))

    @hookimpl
    def turn_completed(
        self,
        key: SessionKey,
        messages: Sequence[ChatMessage],
        duration: float,
        stats: SessionStats,
        instance_event: str,
    ) -> None:
        self.turns.append(
            {
                "key": key,
                "messages": list(messages),
                "duration": duration,
                "stats": stats,
                "event": instance_event,
            }
        )
        self.events.append(("turn", key))
        self.trace.append(("turn", key, instance_event))


# -- a framework whose every step a test can hold or script ------------------------------------

Step = Callable[..., Awaitable[None]]


class ControlledAgent:
    """Replies ``reply #<n>`` and runs the factory's ``on_invoke`` (if set) inside each turn."""

    def __init__(self, key: SessionKey, factory: ControlledFactory) -> None:
        self.key = key
        self.factory = factory
        self.turns = 0
        self.destroyed = False

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        messages = request.messages
        factory = self.factory
        assert not self.destroyed, f"{self.key} invoked after destroy"
        factory.in_flight[self.key] += 1
        factory.max_in_flight[self.key] = max(
            factory.max_in_flight[self.key], factory.in_flight[self.key]
        )
        try:
            if factory.on_invoke is not None:
                await factory.on_invoke(self, messages)
            assert not self.destroyed, f"{self.key} destroyed during a turn"
            self.turns += 1
            return TurnOutput(messages=[ChatMessage.assistant(f"reply #{self.turns}")])
        finally:
            factory.in_flight[self.key] -= 1


class ControlledFactory(AgentFactory):
    """Counts creates and destroys; ``on_create`` / ``on_invoke`` / ``on_destroy`` script them."""

    def __init__(self) -> None:
        self.on_create: Step | None = None
        self.on_invoke: Step | None = None
        self.on_destroy: Step | None = None
        self.created: list[ControlledAgent] = []
        self.destroyed: list[ControlledAgent] = []
        self.create_calls = 0
        self.in_flight: Counter[SessionKey] = Counter()
        self.max_in_flight: Counter[SessionKey] = Counter()

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        self.create_calls += 1
        if self.on_create is not None:
            await self.on_create(request)
        agent = ControlledAgent(request.key, self)
        self.created.append(agent)
        return agent

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        assert isinstance(instance, ControlledAgent)
        assert not instance.destroyed, f"{instance.key} destroyed twice"
        instance.destroyed = True
        self.destroyed.append(instance)
        if self.on_destroy is not None:
            await self.on_destroy(instance)


class ControlledFramework(Framework):
    """Pass an instance as ``SessionManager(framework=...)``; its ``factory`` is the one used."""

    name: ClassVar[str] = "controlled"

    def __init__(self) -> None:
        self.factory = ControlledFactory()

    def create_agent_factory(self, settings: Mapping[str, Any]) -> ControlledFactory:
        return self.factory
