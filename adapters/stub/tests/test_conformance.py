"""The stub adapter passes the conformance suite (see ``sessionful.testing``)."""

import re
from collections.abc import Sequence

import pytest

from sessionful import AgentDefinition, ChatMessage
from sessionful.testing import AdapterTests
from sessionful_stub import StubFramework


class TestStubAdapter(AdapterTests):
    releases_instances = False  # StubFactory.instances keeps every instance, on purpose
    interrupt_messages = ("ask: refund $20?",)  # the stub asks; it replies "answered: yes"
    context_probe = ("context?",)  # the stub replies "context: <the context as JSON>"

    @pytest.fixture
    def framework(self) -> StubFramework:
        return StubFramework()

    @pytest.fixture
    def agent_definition(self) -> AgentDefinition:
        return AgentDefinition(id="conformance", name="Conformance", template_id="echo")

    def recalls(self, reply: ChatMessage, earlier: Sequence[str]) -> bool:
        seen = re.match(r"echo #(\d+):", reply.text)  # n counts user messages seen
        return seen is not None and int(seen.group(1)) > len(earlier)

    def echoed(self, sent: ChatMessage, reply: ChatMessage) -> bool:
        blocks = [] if isinstance(sent.content, str) else sent.content
        others = sum(1 for block in blocks if block.type != "text")
        return reply.text.endswith(sent.text + (f" (+{others} blocks)" if others else ""))
