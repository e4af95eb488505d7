"""The LangGraph adapter passes the conformance suite, with a real graph and the offline model."""

import re
from collections.abc import Sequence
from typing import Any

import pytest

from sessionful import AgentDefinition, ChatMessage
from sessionful.testing import AdapterTests
from sessionful_langgraph import LangGraphFramework


class TestLangGraphAdapter(AdapterTests):
    @pytest.fixture
    def framework(self) -> LangGraphFramework:
        return LangGraphFramework()

    @pytest.fixture
    def agent_definition(self) -> AgentDefinition:
        return AgentDefinition(id="conformance", name="Conformance", template_id="chat")

    def recalls(self, reply: ChatMessage, earlier: Sequence[str]) -> bool:
        seen = re.search(r"\(message (\d+)\)$", reply.content)  # counts user messages seen
        return seen is not None and int(seen.group(1)) > len(earlier)


class TestLangGraphAdapterWithCheckpointer(TestLangGraphAdapter):
    @pytest.fixture
    def framework_settings(self) -> dict[str, Any]:
        return {"checkpointer": "memory"}
