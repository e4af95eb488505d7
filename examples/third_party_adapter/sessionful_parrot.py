"""sessionful-parrot: a whole third-party adapter in one module.

A parrot remembers everything said to it in its session and repeats it all back. Swap the body
of ``ainvoke`` for a call into your framework and this is a real adapter; see
docs/plugin-authors.md for the walk-through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from sessionful import (
    AgentCreateRequest,
    AgentFactory,
    AgentInstance,
    ChatMessage,
    Framework,
    hookimpl,
)


class Parrot:
    """One session's agent: its state lives on the instance, and the manager keeps it alive."""

    def __init__(self, request: AgentCreateRequest, greeting: str) -> None:
        self.key = request.key  # required: the session key this instance serves
        self.greeting = greeting
        self.heard: list[str] = []

    async def ainvoke(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """Run one turn; return only the new messages."""
        self.heard += [m.content for m in messages if m.role == "user"]
        return [ChatMessage.assistant(f"{self.greeting} I heard: {', '.join(self.heard)}")]


class ParrotFactory(AgentFactory):
    """Builds one Parrot per session key. Subclassing AgentFactory gives a no-op destroy_agent."""

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        return Parrot(request, request.configuration.get("greeting", self.greeting))

    async def destroy_agent(self, instance: AgentInstance) -> None:
        if isinstance(instance, Parrot):
            instance.heard.clear()  # release what the instance holds


class ParrotFramework(Framework):
    name: ClassVar[str] = "parrot"  # SessionManager(framework="parrot")
    native_sessions: ClassVar[bool] = False  # the parrot keeps no sessions of its own

    def create_agent_factory(self, settings: Mapping[str, Any]) -> AgentFactory:
        # settings are SessionManager(framework_settings={...}), passed through untouched.
        return ParrotFactory(greeting=settings.get("greeting", "Squawk!"))


@hookimpl
def register_frameworks(register: Callable[[Framework], None]) -> None:
    register(ParrotFramework())
