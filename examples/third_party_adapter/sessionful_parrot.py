"""sessionful-parrot: a whole third-party adapter in one module.

A parrot remembers everything said to it in its session and repeats it all back. Swap the body
of ``ainvoke`` for a call into your framework and this is a real adapter; see
docs/plugin-authors.md for the walk-through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sessionful import (
    AgentCreateRequest,
    AgentFactory,
    AgentInstance,
    ChatMessage,
    Framework,
    Persistence,
    TurnOutput,
    TurnRequest,
    UnloadReason,
    Usage,
    hookimpl,
)


class Parrot:
    """One session's agent: its state lives on the instance, and the manager keeps it alive."""

    def __init__(self, request: AgentCreateRequest, greeting: str) -> None:
        self.key = request.key  # required: the session key this instance serves
        self.greeting = greeting
        self.heard: list[str] = []

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        """Run one turn: the request's new messages in, only the new messages out."""
        said = [m.text for m in request.messages if m.role == "user"]  # .text: blocks too
        self.heard += said
        reply = ChatMessage.assistant(f"{self.greeting} I heard: {', '.join(self.heard)}")
        words = Usage(input_tokens=sum(len(s.split()) for s in said), output_tokens=len(self.heard))
        return TurnOutput(messages=[reply], usage=words)  # usage: what the turn cost, if known


class ParrotFactory(AgentFactory):
    """Builds one Parrot per session key. Subclassing AgentFactory gives a no-op destroy_agent."""

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        return Parrot(request, request.configuration.get("greeting", self.greeting))

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        # reason is "ended" when the session is over (delete what the framework keeps for it),
        # else the instance is only unloaded. A parrot keeps nothing outside its instances.
        if isinstance(instance, Parrot):
            instance.heard.clear()  # release what the instance holds


class ParrotFramework(Framework):
    name: ClassVar[str] = "parrot"  # SessionManager(framework="parrot")
    # Defaults, shown: sessions live in memory only; the parrot never stops to ask a question.
    persistence: ClassVar[Persistence | None] = None
    interrupts: ClassVar[bool] = False

    def create_agent_factory(self, settings: Mapping[str, Any]) -> AgentFactory:
        # settings are SessionManager(framework_settings={...}), passed through untouched.
        return ParrotFactory(greeting=settings.get("greeting", "Squawk!"))


@hookimpl
def register_frameworks(register: Callable[[Framework], None]) -> None:
    register(ParrotFramework())
