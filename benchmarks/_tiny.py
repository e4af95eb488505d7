"""A minimal framework for the memory benchmark: its instance is one slotted object.

It lives in its own module so that tracemalloc attributes its allocations to it and not to the
core or to the benchmark's own code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sessionful import (
    AgentCreateRequest,
    AgentFactory,
    AgentInstance,
    ChatMessage,
    Framework,
    SessionKey,
    TurnOutput,
    TurnRequest,
)

__all__ = ["TinyFramework", "TinyInstance"]

_OUTPUT = TurnOutput(messages=[ChatMessage.assistant("ok")])


class TinyInstance:
    """Holds its key and nothing else; replies with one shared message."""

    __slots__ = ("key",)

    def __init__(self, key: SessionKey) -> None:
        self.key = key

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        return _OUTPUT


class TinyFactory(AgentFactory):
    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        return TinyInstance(request.key)


class TinyFramework(Framework):
    name: ClassVar[str] = "bench-tiny"

    def create_agent_factory(self, settings: Mapping[str, Any]) -> AgentFactory:
        return TinyFactory()
