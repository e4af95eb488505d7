"""Your own graph, as you wrote it: a template may return a StateGraph, a compiled graph or a
prebuilt agent (its compile options kept); the ``graph`` template hosts ``module:attribute``;
a BaseStore in the settings reaches ``get_store()``; model keyword arguments."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.config import get_store
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.store.memory import InMemoryStore

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ConfigurationError,
    ExecuteAgentCommand,
    SessionManager,
    hookimpl,
)
from sessionful_langgraph import LangGraphFactory, OfflineChatModel, order_status, template
from sessionful_langgraph.templates import BuildContext, resolve_model

BOT = "bot"


def say(session: str, text: str) -> ExecuteAgentCommand:
    return ExecuteAgentCommand(agent_id=BOT, session_id=session, messages=[ChatMessage.user(text)])


def remembering() -> StateGraph[Any]:
    """Writes each user message to the long-term store and says how many it holds."""

    async def node(state: MessagesState) -> dict[str, Any]:
        store = get_store()
        said = str(state["messages"][-1].content)
        await store.aput(("notes",), said, {"text": said})
        held = await store.asearch(("notes",))
        return {"messages": [AIMessage(f"{len(held)} notes")]}

    graph = StateGraph(MessagesState)
    graph.add_node("node", node)
    graph.add_edge(START, "node")
    graph.add_edge("node", END)
    return graph


def manager_for(
    build: Any, configuration: dict[str, Any] | None = None, **settings: Any
) -> SessionManager:
    class Templates:
        @hookimpl
        def register_templates(self, register: Any) -> None:
            register(template("mine", "1", build, "test graph"))

    agent = AgentDefinition(
        id=BOT, name="Bot", template_id="mine", configuration=configuration or {}
    )
    return SessionManager(
        framework="langgraph", plugins=[Templates()], agents=[agent], framework_settings=settings
    )


async def test_a_compiled_graph_keeps_its_compile_options_and_gets_the_checkpointer() -> None:
    own_store = InMemoryStore()
    compiled = remembering().compile(name="rememberer", store=own_store)
    manager = manager_for(lambda context: compiled)
    async with manager:
        first = await manager.execute(say("s1", "a"))
        second = await manager.execute(say("s2", "b"))  # the store spans sessions
        factory = manager._factory
        assert isinstance(factory, LangGraphFactory)
        graph = manager.get_agent(first.session_key).graph  # type: ignore[union-attr]
    assert (first.messages[-1].text, second.messages[-1].text) == ("1 notes", "2 notes")
    assert graph.name == "rememberer" and graph.store is own_store
    assert graph.checkpointer is factory.checkpointer and compiled.checkpointer is None


async def test_a_store_in_the_settings_reaches_get_store() -> None:
    store = InMemoryStore()
    async with manager_for(lambda context: remembering(), store=store) as manager:
        await manager.execute(say("s1", "a"))
        reply = await manager.execute(say("s2", "b"))
    assert reply.messages[-1].text == "2 notes"
    assert len(await store.asearch(("notes",))) == 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
async def test_a_prebuilt_agent_with_a_breakpoint_stops_before_its_tools() -> None:
    from langgraph.prebuilt import create_react_agent

    def build(context: BuildContext) -> Any:
        return create_react_agent(
            OfflineChatModel(), [order_status], interrupt_before=["tools"], name="support"
        )

    async with manager_for(build) as manager:
        stopped = await manager.execute(say("s", "Where is my order A-7?"))
        assert stopped.status == "interrupted"
        (breakpoint,) = stopped.interrupts
        assert breakpoint.value == {"breakpoint": ["tools"]}
        assert stopped.messages[-1].tool_calls[0].name == "order_status"
        resumed = await manager.execute(
            ExecuteAgentCommand(agent_id=BOT, session_id="s", resume={breakpoint.id: "go"})
        )
    assert resumed.status == "completed"
    assert [m.role for m in resumed.messages] == ["tool", "assistant"]
    assert "A-7" in resumed.messages[-1].text


async def test_something_else_is_a_configuration_error() -> None:
    async with manager_for(lambda context: object()) as manager:
        with pytest.raises(ConfigurationError, match="StateGraph or a compiled graph"):
            await manager.execute(say("s", "hi"))


GRAPH_FILE = """
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph

async def node(state):
    return {"messages": [AIMessage("from the file: " + state["messages"][-1].content)]}

builder = StateGraph(MessagesState)
builder.add_node("node", node)
builder.add_edge(START, "node")
builder.add_edge("node", END)
graph = builder.compile(name="file-graph")

def make(context):
    return builder
"""


@pytest.mark.parametrize("attribute", ["graph", "builder", "make"])
async def test_the_graph_template_hosts_a_file_reference(tmp_path: Path, attribute: str) -> None:
    path = tmp_path / "agents.py"
    path.write_text(textwrap.dedent(GRAPH_FILE))
    agent = AgentDefinition(
        id=BOT, name="Bot", template_id="graph", configuration={"graph": f"{path}:{attribute}"}
    )
    async with SessionManager(framework="langgraph", agents=[agent]) as manager:
        reply = await manager.execute(say("s", "hi"))
    assert reply.messages[-1].text == "from the file: hi"


async def test_the_graph_template_hosts_a_module_reference() -> None:
    agent = AgentDefinition(
        id=BOT,
        name="Bot",
        template_id="graph",
        configuration={"graph": "sessionful_langgraph.templates:build_chat"},
    )
    async with SessionManager(framework="langgraph", agents=[agent]) as manager:
        await manager.execute(say("s", "My name is Ada"))
        reply = await manager.execute(say("s", "What is my name?"))
    assert reply.messages[-1].text == "Your name is Ada."


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no-colon", "module:attribute"),
        ("sessionful_langgraph.templates:nothing_here", "does not load"),
        ("no_such_module_anywhere:graph", "does not load"),
    ],
)
async def test_a_bad_reference_says_what_is_wrong(reference: str, message: str) -> None:
    agent = AgentDefinition(
        id=BOT, name="Bot", template_id="graph", configuration={"graph": reference}
    )
    async with SessionManager(framework="langgraph", agents=[agent]) as manager:
        with pytest.raises(ConfigurationError, match=message):
            await manager.execute(say("s", "hi"))


@pytest.mark.parametrize(
    "configuration",
    [
        {"model": "gpt-4o-mini"},
        {"model": "openai:gpt-4o-mini", "model_kwargs": {"temperature": 0}},
        {"model": {"model": "gpt-4o-mini", "base_url": "http://localhost:1"}},
    ],
)
def test_a_model_may_omit_its_provider_and_take_keyword_arguments(
    configuration: dict[str, Any],
) -> None:
    if importlib.util.find_spec("langchain") is not None:
        pytest.skip("langchain is installed here: this would build a real model")
    with pytest.raises(ImportError, match="sessionful-langgraph\\[models\\]"):
        resolve_model(configuration)


@pytest.mark.parametrize("configuration", [{"model": 42}, {"model": {"temperature": 0}}])
def test_a_malformed_model_is_a_configuration_error(configuration: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="model"):
        resolve_model(configuration)
