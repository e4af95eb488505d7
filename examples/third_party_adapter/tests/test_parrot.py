import pytest
from agent_sessions import AgentDefinition
from agent_sessions.testing import AdapterTests

from agent_sessions_parrot import ParrotFramework


class TestParrotAdapter(AdapterTests):
    @pytest.fixture
    def framework(self) -> ParrotFramework:
        return ParrotFramework()

    @pytest.fixture
    def agent_definition(self) -> AgentDefinition:
        return AgentDefinition(id="polly", name="Polly", template_id="parrot")
