"""The adapter under test: its resolved framework, settings and agent, and a tracking harness.

The suite's tests receive an :class:`AdapterUnderTest` and drive the adapter only through the
boundary in :mod:`sessionful.factory`. :class:`Harness` remembers every instance a test
creates and destroys the survivors when the test ends, so a failing test does not leak into the
next one.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import pytest

from sessionful._plugins import Plugins
from sessionful.factory import AgentFactory, AgentInstance, Framework
from sessionful.keys import SessionKey
from sessionful.lifecycle import LifecyclePolicy
from sessionful.manager import SessionManager
from sessionful.models import (
    AgentCreateRequest,
    AgentDefinition,
    ChatMessage,
    Interrupt,
    TurnOutput,
    TurnRequest,
    UnloadReason,
)
from sessionful.templates import AgentTemplate

__all__ = ["AdapterUnderTest", "Harness"]

_T = TypeVar("_T")


def _awaitable(value: Awaitable[_T], call: str) -> Awaitable[_T]:
    # Typed as awaitable, but an adapter that forgot `async def` hands us a plain value.
    assert inspect.isawaitable(value), (
        f"{call} returned {type(value).__name__}, not an awaitable: declare it `async def`"
    )
    return value


@dataclass(frozen=True)
class AdapterUnderTest:
    """What the suite tests: a framework, its settings, and an agent it can build offline.

    Build one with :meth:`resolve` (the suite's ``adapter_under_test`` fixture does) to call a
    suite test method directly, e.g. from a test that proves a broken adapter fails it.
    """

    framework: Framework
    """The resolved framework object."""
    settings: Mapping[str, Any]
    """``framework_settings``, passed to ``create_agent_factory`` as the manager passes them."""
    agent: AgentDefinition
    """The catalog entry every instance is built from."""
    framework_arg: Framework | str = field(repr=False)
    """What the adapter supplied: a registered name or a framework object."""
    template: AgentTemplate | None = None
    """The agent's registered template, for a framework that ``uses_templates``."""
    plugins: tuple[object, ...] = field(default=(), repr=False)
    """Extra plugin objects, given to every ``SessionManager`` the suite builds."""

    @classmethod
    def resolve(
        cls,
        framework: Framework | str,
        settings: Mapping[str, Any] | None,
        agent: AgentDefinition,
        plugins: Iterable[object] = (),
    ) -> AdapterUnderTest:
        """Look a framework name up among the installed plugins (an object is taken as it is)
        and, for a framework that ``uses_templates``, the agent's template, as the manager does.
        """
        extra = tuple(plugins)
        found = Plugins(extra)
        if isinstance(framework, str):
            available = found.get_frameworks()
            if framework not in available:
                pytest.fail(
                    f"no installed plugin registers a framework named {framework!r} (registered: "
                    f"{sorted(available)}); check the `sessionful` entry point in your "
                    "pyproject.toml and that the package is installed",
                    pytrace=False,
                )
            resolved = available[framework]
        else:
            resolved = framework
        if not isinstance(agent, AgentDefinition):
            pytest.fail(
                f"the agent_definition fixture must return an AgentDefinition, not {agent!r}",
                pytrace=False,
            )
        template = None
        if getattr(resolved, "uses_templates", False):
            templates = found.get_templates(resolved.name)
            template = templates.get((agent.template_id, agent.template_version))
            if template is None:
                pytest.fail(
                    f"{resolved.name} uses templates and none is registered as "
                    f"{agent.template_id}@{agent.template_version} (registered: "
                    f"{sorted(t.ref for t in templates.values())}); register it with the "
                    "register_templates hook, or pass a plugin that does in the `plugins` fixture",
                    pytrace=False,
                )
        return cls(
            resolved,
            dict(settings or {}),
            agent,
            framework_arg=framework,
            template=template,
            plugins=extra,
        )

    @property
    def name(self) -> str:
        """The framework's name, for messages."""
        return str(getattr(self.framework, "name", type(self.framework).__name__))

    def key(self, session_id: str | None = None, namespace: str | None = None) -> SessionKey:
        """A key of the test agent."""
        return SessionKey(self.agent.id, session_id, namespace)

    def new_factory(self) -> AgentFactory:
        """A fresh factory, made exactly as ``SessionManager`` makes one."""
        return self.framework.create_agent_factory(dict(self.settings))

    def harness(self) -> Harness:
        """``async with adapter.harness() as h:`` a factory plus cleanup of what the test made."""
        return Harness(self)

    def manager(self, **options: Any) -> SessionManager:
        """A real :class:`SessionManager` on this adapter, with no background sweeper."""
        options.setdefault("lifecycle", LifecyclePolicy(sweep_interval=None))
        return SessionManager(
            self.framework_arg,
            framework_settings=self.settings,
            agents=[self.agent],
            plugins=self.plugins,
            **options,
        )


class Harness:
    """Creates, drives and destroys instances, checking the boundary's types on the way.

    Every instance created here and not destroyed by the test is destroyed on exit.
    """

    def __init__(self, adapter: AdapterUnderTest) -> None:
        self.adapter = adapter
        self.factory: AgentFactory = adapter.new_factory()
        self._live: list[tuple[AgentFactory, AgentInstance]] = []

    async def __aenter__(self) -> Harness:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        errors: list[BaseException] = []
        while self._live:
            factory, instance = self._live.pop()
            try:
                # "ended": the test's sessions are over, so a framework's own store keeps nothing.
                await factory.destroy_agent(instance, "ended")
            except Exception as error:
                errors.append(error)
        if errors and exc is None:  # never hide the test's own failure behind a cleanup error
            raise errors[0]

    def request(self, key: SessionKey | str | None = None) -> AgentCreateRequest:
        """The request the manager would send for ``key`` (a key, a session id, or agent-level)."""
        if not isinstance(key, SessionKey):
            key = self.adapter.key(key)
        return AgentCreateRequest.for_session(self.adapter.agent, key, self.adapter.template)

    async def create(
        self, key: SessionKey | str | None = None, *, factory: AgentFactory | None = None
    ) -> AgentInstance:
        """``create_agent`` for ``key``, checked to be an :class:`AgentInstance` bound to it."""
        factory = factory or self.factory
        request = self.request(key)
        instance = await _awaitable(factory.create_agent(request), "create_agent")
        self._live.append((factory, instance))
        assert isinstance(instance, AgentInstance), (
            f"create_agent returned {instance!r}, which is not an AgentInstance: it needs a `key` "
            "attribute and an `async def ainvoke(request)` method"
        )
        assert instance.key == request.key, (
            f"create_agent({request.key!r}) returned an instance whose key is {instance.key!r}; "
            "set `instance.key = request.key`"
        )
        return instance

    async def destroy(self, instance: AgentInstance, reason: UnloadReason = "evicted") -> None:
        """``destroy_agent(instance, reason)`` on the factory that made ``instance``; forgets it
        either way. The default reason, ``"evicted"``, unloads it and keeps its session's data."""
        for index, (maker, live) in enumerate(self._live):
            if live is instance:
                factory = maker
                del self._live[index]
                break
        else:
            raise AssertionError(f"the harness did not create {instance!r}")
        await _awaitable(factory.destroy_agent(instance, reason), "destroy_agent")

    async def run(
        self,
        instance: AgentInstance,
        *messages: ChatMessage | str,
        context: Mapping[str, Any] | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> TurnOutput:
        """One ``ainvoke`` with a :class:`~sessionful.TurnRequest` (strings are user messages);
        checks the output's shape, whether the turn completed or stopped with interrupts."""
        sent = [m if isinstance(m, ChatMessage) else ChatMessage.user(m) for m in messages]
        request = TurnRequest(
            messages=list(sent), context=dict(context or {}), resume=dict(resume or {})
        )
        frozen = copy.deepcopy(request)
        output = await _awaitable(instance.ainvoke(request), "ainvoke")
        assert isinstance(output, TurnOutput), (
            f"ainvoke returned {type(output).__name__}; it must return a sessionful.TurnOutput "
            "(messages=..., interrupts=..., usage=...)"
        )
        strays = [m for m in output.messages if not isinstance(m, ChatMessage)]
        assert not strays, (
            f"ainvoke returned non-ChatMessage items {strays!r}; convert the framework's "
            "messages to sessionful.ChatMessage at the adapter boundary"
        )
        odd = [i for i in output.interrupts if not isinstance(i, Interrupt)]
        assert not odd, (
            f"ainvoke returned interrupts {odd!r} that are not sessionful.Interrupt objects"
        )
        ids = [interrupt.id for interrupt in output.interrupts]
        assert len(set(ids)) == len(ids), (
            f"one turn raised two interrupts with the same id ({ids}); an id must name one "
            "question, so that resume={id: answer} is unambiguous"
        )
        for interrupt in output.interrupts:
            try:
                json.dumps(interrupt.value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise AssertionError(
                    f"interrupt {interrupt.id!r} has a value that is not JSON ({exc}): "
                    f"{interrupt.value!r}; convert what the agent asks to plain JSON"
                ) from exc
        assert request == frozen, (
            "ainvoke mutated the request it was given; copy what you change instead"
        )
        return output

    async def turn(
        self,
        instance: AgentInstance,
        *messages: ChatMessage | str,
        context: Mapping[str, Any] | None = None,
        resume: Mapping[str, Any] | None = None,
    ) -> list[ChatMessage]:
        """One turn that must complete (see :meth:`run`): returns the messages it produced,
        checked to end with the assistant's reply."""
        output = await self.run(instance, *messages, context=context, resume=resume)
        assert not output.interrupts, (
            f"a plain turn stopped with interrupts {output.interrupts!r}; raise interrupts only "
            "when the agent really waits for an answer"
        )
        reply = output.messages
        assert reply, "ainvoke returned no messages; a completed turn must produce a reply"
        assert reply[-1].role == "assistant", (
            f"the last message ainvoke returned has role {reply[-1].role!r}; a turn must end with "
            "the assistant's reply"
        )
        return list(reply)
