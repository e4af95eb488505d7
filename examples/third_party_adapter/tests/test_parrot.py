import pytest
from sessionful import AgentDefinition
from sessionful.testing import AdapterTests

from sessionful_parrot import ParrotFramework


class TestParrotAdapter(AdapterTests):
    @pytest.fixture
    def framework(self) -> ParrotFramework:
        return ParrotFramework()

    @pytest.fixture
    def agent_definition(self) -> AgentDefinition:
        return AgentDefinition(id="polly", name="Polly", template_id="parrot")
