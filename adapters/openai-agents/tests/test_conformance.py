"""The openai-agents adapter passes the conformance suite (see ``sessionful.testing``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from sessionful import AgentDefinition, AgentFactory, ChatMessage, SessionKey
from sessionful.testing import AdapterTests
from sessionful_openai_agents import OpenAIAgentsFactory, OpenAIAgentsFramework


class TestOpenAIAgentsAdapter(AdapterTests):
    interrupt_messages = ("Please refund $20 on order A-17",)
    resume_answer = "approve"
    context_probe = ("context?",)

    @pytest.fixture
    def framework(self) -> OpenAIAgentsFramework:
        return OpenAIAgentsFramework()

    @pytest.fixture
    def agent_definition(self) -> AgentDefinition:
        return AgentDefinition(id="conformance", name="Conformance", template_id="tool-agent")

    def recalls(self, reply: ChatMessage, earlier: Sequence[str]) -> bool:
        seen = re.search(r"\(message (\d+)\)$", reply.text)  # counts user messages seen
        return seen is not None and int(seen.group(1)) > len(earlier)

    def answered(self, reply: ChatMessage, answer: Any) -> bool:
        return reply.text.startswith("Refund: refunded $20.00")

    async def framework_state_exists(self, factory: AgentFactory, key: SessionKey) -> bool | None:
        assert isinstance(factory, OpenAIAgentsFactory)
        return await factory.has_items(key)
