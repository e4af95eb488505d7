"""The stub adapter: sessionful' reference implementation and test seam.

A deterministic echo agent. Each reply is ``echo #<n>: <text>``: ``<text>`` is the text of the
last user message of the turn and ``<n>`` counts the user messages the instance has seen so far,
so whether two turns shared an instance is visible in the output. A message with content blocks
is echoed by its text blocks, and the others are counted: ``echo #1: look (+1 blocks)``. No
model, no network, no randomness.

The rest of the turn contract, deterministically:

* **Interrupts.** A user message starting with ``ask:`` stops the turn with one interrupt whose
  value is the rest of the text (``ask: refund $20?`` asks ``"refund $20?"``); the turn that
  resumes it with an answer replies ``answered: <answer>``.
* **Context.** A user message ``context?`` replies ``context: <the turn's context as JSON>``.
* **Usage.** Every turn reports usage: input tokens are the words of its user messages, output
  tokens the words of its reply.

Settings (``SessionManager(framework="stub", framework_settings={...})``):

``create_latency``, ``invoke_latency``, ``destroy_latency``
    seconds to ``asyncio.sleep`` in each call (default 0: no await at all).

``astream`` yields the reply word by word; the history changes only when the last word has been
taken, so an abandoned stream leaves the instance as it was.

Faults, for reliability tests:

* a user message containing ``!fail`` makes that turn raise :class:`StubFault`, leaving the
  instance as it was; an agent configured with ``{"fail_create": true}`` cannot be created;
* ``factory.faults.create`` / ``.invoke`` / ``.destroy``: how many of the next calls of each kind
  raise :class:`StubFault` (a failed destroy still counts the instance as destroyed).

The factory keeps every instance it made in ``factory.instances``; an instance raises
:class:`StubMisuse` if it is invoked after being destroyed or destroyed twice.

This module registers itself through the ``sessionful`` entry point, exactly as a third
party's adapter would.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sessionful import (
    AgentCreateRequest,
    AgentFactory,
    AgentInstance,
    ChatMessage,
    ConfigurationError,
    Framework,
    Interrupt,
    Persistence,
    SessionKey,
    StreamEvent,
    TextBlock,
    TurnOutput,
    TurnRequest,
    UnloadReason,
    Usage,
    hookimpl,
)

__all__ = [
    "ASK_PREFIX",
    "CONTEXT_PROBE",
    "FAIL_MARKER",
    "StubAgent",
    "StubFactory",
    "StubFault",
    "StubFaults",
    "StubFramework",
    "StubMisuse",
    "StubSettings",
    "register_frameworks",
]

FAIL_MARKER = "!fail"
"""A user message containing this makes its turn raise :class:`StubFault`."""

ASK_PREFIX = "ask:"
"""A user message starting with this stops the turn with an interrupt asking the rest."""

CONTEXT_PROBE = "context?"
"""A user message that is exactly this replies with the turn's context as JSON."""


class StubFault(RuntimeError):
    """An injected failure."""


class StubMisuse(AssertionError):
    """The manager broke the adapter contract: used a destroyed instance or destroyed it twice."""


class StubSettings(BaseModel):
    """The stub's ``framework_settings``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    create_latency: float = Field(default=0.0, ge=0)
    invoke_latency: float = Field(default=0.0, ge=0)
    destroy_latency: float = Field(default=0.0, ge=0)


@dataclass
class StubFaults:
    """How many of the next calls of each kind fail."""

    create: int = 0
    invoke: int = 0
    destroy: int = 0

    def take(self, kind: str) -> bool:
        """Consume one pending fault of ``kind``; True if this call must fail."""
        left: int = getattr(self, kind)
        if left > 0:
            setattr(self, kind, left - 1)
            return True
        return False


class StubAgent:
    """One echo agent. Its whole state is the message history, so snapshots are exact."""

    def __init__(self, key: SessionKey, request: AgentCreateRequest, factory: StubFactory) -> None:
        self.key = key
        self.request = request
        self.history: list[ChatMessage] = []
        self.user_messages = 0
        """How many user messages this instance has seen."""
        self.destroyed = False
        self._factory = factory

        self.destroy_reason: UnloadReason | None = None
        """Why ``destroy_agent`` was called, once it was."""

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        """Record the turn's messages and reply (see the module's docstring)."""
        if self.destroyed:
            raise StubMisuse(f"instance {self.key} invoked after destroy_agent")
        if self._factory.settings.invoke_latency:
            await asyncio.sleep(self._factory.settings.invoke_latency)
        if self.destroyed:  # destroyed while we slept: the manager let a turn overlap an unload
            raise StubMisuse(f"instance {self.key} destroyed during a turn")
        messages = request.messages
        users = [m for m in messages if m.role == "user"]
        texts = [m.text for m in users]
        last = texts[-1] if texts else None
        # The user messages' texts, one per line: no marker or word spans a line break.
        said = "\n".join(texts)
        faults = self._factory.faults
        if (faults.invoke and faults.take("invoke")) or FAIL_MARKER in said:
            raise StubFault(f"injected invoke failure on {self.key}")
        self.history.extend(messages)
        self.user_messages += len(users)
        words_in = len(said.split())
        if request.resume:
            text = "; ".join(_answer(value) for value in request.resume.values())
            reply = ChatMessage.assistant(f"answered: {text}")
        elif last is not None and last.startswith(ASK_PREFIX):
            question = last[len(ASK_PREFIX) :].strip()
            interrupt = Interrupt(id=f"ask-{self.user_messages}", value=question)
            return TurnOutput(interrupts=[interrupt], usage=_usage(words_in, 0))
        elif last == CONTEXT_PROBE:
            shown = json.dumps(request.context, sort_keys=True, separators=(",", ":"))
            reply = ChatMessage.assistant(f"context: {shown}")
        else:
            reply = ChatMessage.assistant(f"echo #{self.user_messages}: {_echo(users)}")
        self.history.append(reply)
        usage = _usage(words_in, len(reply.text.split()))
        return TurnOutput(messages=[reply], usage=usage)

    async def astream(
        self, request: TurnRequest
    ) -> AsyncIterator[ChatMessage | StreamEvent | TurnOutput]:
        """The reply of :meth:`ainvoke`, word by word, then its output; the history changes
        only when the last item has been taken."""
        before, users = list(self.history), self.user_messages
        output = await self.ainvoke(request)
        # ainvoke already recorded the turn; undo it until the last chunk has been taken.
        after, users_after = self.history, self.user_messages
        self.history, self.user_messages = before, users
        for reply in output.messages:
            words = reply.text.split(" ")
            for i, word in enumerate(words):
                if self.destroyed:
                    raise StubMisuse(f"instance {self.key} destroyed during a stream")
                yield ChatMessage.assistant(
                    word if i == len(words) - 1 else word + " ", metadata={"index": 0}
                )
        yield output
        self.history, self.user_messages = after, users_after

    async def snapshot(self) -> dict[str, Any]:
        """The history as JSON-able data."""
        return {"version": 1, "history": [m.model_dump(mode="json") for m in self.history]}

    async def restore(
        self, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
    ) -> None:
        """Replace the history with the snapshot's, then the logged ``messages`` after it."""
        history: list[ChatMessage] = []
        if snapshot is not None:
            if snapshot.get("version") != 1 or not isinstance(snapshot.get("history"), list):
                raise ValueError("not a stub snapshot (expected version 1 with a history list)")
            try:
                history = [ChatMessage.model_validate(m) for m in snapshot["history"]]
            except ValidationError as exc:
                raise ValueError(f"corrupt stub snapshot: {exc}") from exc
        history.extend(messages)
        self.history = history
        self.user_messages = sum(1 for message in history if message.role == "user")


@functools.lru_cache(maxsize=1024)
def _usage(input_tokens: int, output_tokens: int) -> Usage:
    """A turn's usage. ``Usage`` is frozen, so equal figures share one object."""
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens)


def _echo(users: Sequence[ChatMessage]) -> str:
    """The last user message's text, and how many non-text blocks it carried."""
    if not users:
        return ""
    last = users[-1]
    if isinstance(last.content, str):
        return last.content
    others = sum(1 for block in last.content if not isinstance(block, TextBlock))
    return last.text + (f" (+{others} blocks)" if others else "")


def _answer(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


class StubFactory(AgentFactory):
    """Makes :class:`StubAgent` instances and records them."""

    def __init__(self, settings: StubSettings) -> None:
        self.settings = settings
        self.faults = StubFaults()
        self.instances: list[StubAgent] = []

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        """A fresh :class:`StubAgent` for ``request.key``."""
        if self.settings.create_latency:
            await asyncio.sleep(self.settings.create_latency)
        if self.faults.take("create") or request.configuration.get("fail_create"):
            raise StubFault(f"injected create failure for {request.key}")
        agent = StubAgent(request.key, request, self)
        self.instances.append(agent)
        return agent

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        """Mark the instance destroyed (raising :class:`StubMisuse` the second time) and
        record why. The stub keeps nothing outside its instances, so nothing else goes."""
        if not isinstance(instance, StubAgent):
            raise StubMisuse(f"not a stub instance: {instance!r}")
        if instance.destroyed:
            raise StubMisuse(f"instance {instance.key} destroyed twice")
        instance.destroyed = True
        instance.destroy_reason = reason
        if self.settings.destroy_latency:
            await asyncio.sleep(self.settings.destroy_latency)
        if self.faults.take("destroy"):
            raise StubFault(f"injected destroy failure for {instance.key}")

    @property
    def live(self) -> list[StubAgent]:
        """Instances made and not yet destroyed."""
        return [agent for agent in self.instances if not agent.destroyed]


class StubFramework(Framework):
    """The ``stub`` framework."""

    name: ClassVar[str] = "stub"
    interrupts: ClassVar[bool] = True
    persistence: ClassVar[Persistence | None] = "snapshot"
    snapshot_every: ClassVar[int] = 0  # the history is the message log: replay it

    def create_agent_factory(self, settings: Mapping[str, Any]) -> StubFactory:
        """A :class:`StubFactory` configured by :class:`StubSettings` fields."""
        try:
            parsed = StubSettings.model_validate(dict(settings))
        except ValidationError as exc:
            raise ConfigurationError(f"invalid stub settings: {exc}") from exc
        return StubFactory(parsed)


@hookimpl
def register_frameworks(register: Callable[[Framework], None]) -> None:
    """Register the ``stub`` framework."""
    register(StubFramework())
