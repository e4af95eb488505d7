"""What an adapter's test class supplies: fixtures, a memory check, a few switches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest

from sessionful.factory import Framework
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
        return all(text in reply.content for text in earlier)
