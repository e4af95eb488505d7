"""The stub adapter passes the conformance suite (see ``sessionful.testing``)."""

import re
from collections.abc import Sequence

import pytest

from sessionful import AgentDefinition, ChatMessage
from sessionful.testing import AdapterTests
from sessionful_stub import StubFramework


class TestStubAdapter(AdapterTests):
    releases_instances = False  # StubFactory.instances keeps every instance, on purpose

    @pytest.fixture
    def framework(self) -> StubFramework:
        return StubFramework()

    @pytest.fixture
    def agent_definition(self) -> AgentDefinition:
        return AgentDefinition(id="conformance", name="Conformance", template_id="echo")

    def recalls(self, reply: ChatMessage, earlier: Sequence[str]) -> bool:
        seen = re.match(r"echo #(\d+):", reply.content)  # n counts user messages seen
        return seen is not None and int(seen.group(1)) > len(earlier)
