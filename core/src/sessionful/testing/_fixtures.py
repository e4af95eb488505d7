"""What an adapter's test class supplies: fixtures, a memory check, a few switches, and the
probes of the turn contract (interrupts, context, content, usage, framework-held state)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest

from sessionful.factory import AgentFactory, Framework
from sessionful.keys import SessionKey
from sessionful.models import AgentDefinition, ChatMessage
from sessionful.testing._harness import AdapterUnderTest

__all__ = ["AdapterFixtures"]


class AdapterFixtures:
    """The base of every conformance class: override the fixtures, keep the tests.

    Required fixtures: ``framework`` and ``agent_definition``. Optional: ``framework_settings``,
    the :meth:`recalls` check, and the class attributes below.
    """

    releases_instances: ClassVar[bool] = True
    """The factory keeps no reference to an instance after ``destroy_agent``. Set ``False`` when
    the factory keeps its instances on purpose (the stub's ``factory.instances`` test seam); the
    suite then only checks that nothing outlives the factory itself."""

    adapter_module: ClassVar[str | None] = None
    """The module imported by the side-effect test; default: the framework class's module."""

    concurrency: ClassVar[int] = 8
    """How many instances the concurrency tests create at once."""

    interrupt_messages: ClassVar[Sequence[str]] = ()
    """User messages that make the agent stop its turn with interrupts (for the stub,
    ``("ask: refund $20?",)``). Required when the framework declares ``interrupts = True``; the
    suite answers every interrupt with :attr:`resume_answer` and expects the resumed turn to
    complete."""

    resume_answer: ClassVar[Any] = "yes"
    """The answer the suite gives each interrupt (JSON)."""

    context_probe: ClassVar[Sequence[str] | None] = None
    """User messages whose reply shows the turn's context (for the stub, ``("context?",)``);
    :meth:`shows_context` judges the reply. ``None`` (the default) skips the context tests:
    say so only if the adapter really passes no context to its agent."""

    reports_usage: ClassVar[bool] = True
    """The adapter reports token usage (``TurnOutput.usage`` or each message's ``usage``). Set
    ``False`` if the framework never tells it; the usage tests then skip."""

    content_examples: ClassVar[int] = 25
    """How many messages Hypothesis generates for the content-block round trips."""

    def answered(self, reply: ChatMessage, answer: Any) -> bool:
        """Does ``reply``, the last message of a resumed turn, show that the agent got
        ``answer``? The default looks for the answer's text in the reply."""
        shown = answer if isinstance(answer, str) else json.dumps(answer, sort_keys=True)
        return shown in reply.text

    def shows_context(self, reply: ChatMessage, context: Mapping[str, Any]) -> bool:
        """Does ``reply`` to :attr:`context_probe` show every value of ``context``? The suite
        asks it with the turn's own context (must be yes) and with other turns' (must be no).
        The default looks for each value, as text or as JSON, in the reply."""
        text = reply.text
        return all(
            (value if isinstance(value, str) else json.dumps(value)) in text
            for value in context.values()
        )

    def echoed(self, sent: ChatMessage, reply: ChatMessage) -> bool | None:
        """Does ``reply`` echo ``sent`` (a user message, often with content blocks) as the
        adapter's agent should? ``None`` (the default) means the agent does not echo, so the
        content test only checks that every message is accepted; an echoing offline agent
        should say how its reply reflects the blocks (the stub: the text blocks, and
        ``(+k blocks)`` for the others)."""
        return None

    async def framework_state_exists(self, factory: AgentFactory, key: SessionKey) -> bool | None:
        """Does the framework still hold state for ``key`` outside any instance (checkpoints in
        its saver, a session's items in its store)? ``None`` (the default) skips the end-vs-evict
        test; define it when the framework keeps state of its own, so the suite can check that
        ``destroy_agent`` deletes it on ``"ended"`` and keeps it on every other reason."""
        return None

    @pytest.fixture
    def framework(self) -> Framework | str:
        """Required: your :class:`~sessionful.Framework` object, or its registered name."""
        pytest.fail(
            f"{type(self).__name__} must define a `framework` fixture returning your Framework "
            "object or its registered name",
            pytrace=False,
        )

    @pytest.fixture
    def framework_settings(self) -> Mapping[str, Any]:
        """The ``framework_settings`` your factory needs offline (default: none)."""
        return {}

    @pytest.fixture
    def agent_definition(self) -> AgentDefinition:
        """Required: an agent your framework builds and runs offline (no network, no keys)."""
        pytest.fail(
            f"{type(self).__name__} must define an `agent_definition` fixture returning an "
            "AgentDefinition whose template your framework can build offline",
            pytrace=False,
        )

    @pytest.fixture
    def plugins(self) -> Sequence[object]:
        """Extra plugin objects (e.g. one registering a test template); default: none."""
        return ()

    @pytest.fixture
    def adapter_under_test(
        self,
        framework: Framework | str,
        framework_settings: Mapping[str, Any],
        agent_definition: AgentDefinition,
        plugins: Sequence[object],
    ) -> AdapterUnderTest:
        """The fixtures above, resolved. Every test takes this one."""
        return AdapterUnderTest.resolve(framework, framework_settings, agent_definition, plugins)

    def recalls(self, reply: ChatMessage, earlier: Sequence[str]) -> bool:
        """Does ``reply`` show that the agent had seen every user message in ``earlier``?

        The suite sends distinct user messages and asks this after each turn, both where memory
        is required (the same session) and where it is forbidden (another session, a fresh
        instance), so a check that always says yes or always says no fails the suite.

        The default looks for each earlier text in the reply, which suits an offline model that
        echoes its context. Override it for agents that show memory differently; the stub's
        replies count the user messages seen, so its check is ``n > len(earlier)``.
        """
        return all(text in reply.text for text in earlier)
