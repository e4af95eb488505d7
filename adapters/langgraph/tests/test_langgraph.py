"""The LangGraph adapter against real compiled graphs and the offline model."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ConfigurationError,
    ExecuteAgentCommand,
    ExecutionResult,
    SessionKey,
    SessionManager,
    StreamEvent,
    UnknownTemplate,
    hookimpl,
)
from sessionful_langgraph import (
    LangGraphAgent,
    LangGraphFactory,
    build_chat,
    strict_serializer,
    template,
)
from sessionful_langgraph._local import LocalSaver
from sessionful_langgraph.templates import BuildContext

BOT = "customer-service-bot"


def bot(template_id: str = "tool-agent", version: str = "1", **config: Any) -> AgentDefinition:
    return AgentDefinition(
        id=BOT,
        name="Support",
        template_id=template_id,
        template_version=version,
        configuration=config,
    )


def say(session: str | None, text: str, agent: str = BOT) -> ExecuteAgentCommand:
    return ExecuteAgentCommand(
        agent_id=agent, session_id=session, messages=[ChatMessage.user(text)]
    )


def factory_of(manager: SessionManager) -> LangGraphFactory:
    factory = manager._factory
    assert isinstance(factory, LangGraphFactory)
    return factory


async def test_a_session_remembers_its_own_user_and_never_another() -> None:
    manager = SessionManager(framework="langgraph", agents=[bot()])
    async with manager:
        await manager.execute(say("s1", "Hello, my name is Ada"))
        await manager.execute(say("s2", "Hi, my name is Bob"))
        ada = await manager.execute(say("s1", "What is my name?"))
        bob = await manager.execute(say("s2", "What is my name?"))
        stranger = await manager.execute(say("s3", "What is my name?"))
    assert ada.messages[-1].content == "Your name is Ada."
    assert bob.messages[-1].content == "Your name is Bob."
    assert stranger.messages[-1].content == "You have not told me your name."
    assert (ada.instance_event, stranger.instance_event) == ("reused", "created")


async def test_shared_strategy_mixes_contexts_as_documented() -> None:
    manager = SessionManager(framework="langgraph", strategy="shared", agents=[bot("chat")])
    async with manager:
        await manager.execute(say("s1", "My name is Ada"))
        other = await manager.execute(say("s2", "What is my name?"))
    assert other.messages[-1].content == "Your name is Ada."
    assert str(other.session_key) == BOT


async def test_order_status_calls_the_tool_offline() -> None:
    manager = SessionManager(framework="langgraph", agents=[bot()])
    async with manager:
        result = await manager.execute(say("s1", "What's my order status?"))
    roles = [m.role for m in result.messages]
    assert roles == ["assistant", "tool", "assistant"]
    assert result.messages[0].tool_calls[0].name == "order_status"
    assert result.messages[1].tool_call_id == result.messages[0].tool_calls[0].id
    assert result.messages[1].name == "order_status"
    assert "A-1001" in result.messages[-1].content


async def test_the_graph_is_compiled_once_per_configuration_not_per_session() -> None:
    manager = SessionManager(framework="langgraph", agents=[bot()])
    factory = factory_of(manager)
    async with manager:
        await manager.execute(say("s0", "hello"))
        assert factory.compiles == 1
        for i in range(1, 20):
            await manager.execute(say(f"s{i}", "hello"))
        graphs = {
            id(getattr(manager.get_agent(key), "graph", None)) for key in manager.list_agents()
        }
        assert factory.compiles == 1 and len(graphs) == 1
        manager.register_agent(bot(tools=[]))  # another configuration: one more compile
        await manager.execute(say("other", "hello"))
        assert factory.compiles == 2


async def test_a_session_keeps_its_template_version_until_it_ends() -> None:
    class V2:
        @staticmethod
        def build_v2(context: BuildContext) -> Any:
            """Chat, version 2."""
            return build_chat(context)

        @hookimpl
        def register_templates(self, register: Any) -> None:
            register(template("chat", "2", V2.build_v2))

    manager = SessionManager(framework="langgraph", plugins=[V2()], agents=[bot("chat", "1")])
    async with manager:
        await manager.execute(say("old", "hello"))
        manager.register_agent(bot("chat", "2"))
        await manager.execute(say("old", "hello again"))
        await manager.execute(say("new", "hello"))
        versions = {
            key.session_id: agent.template_version
            for key in manager.list_agents()
            if isinstance(agent := manager.get_agent(key), LangGraphAgent)
        }
        assert versions == {"old": "1", "new": "2"}
        await manager.end_session(BOT, "old")
        await manager.execute(say("old", "hello"))
        assert manager.get_agent(SessionKey(BOT, "old")).template_version == "2"  # type: ignore[union-attr]


async def test_unknown_template_lists_the_registered_ones() -> None:
    manager = SessionManager(framework="langgraph")
    with pytest.raises(UnknownTemplate) as caught:
        manager.register_agent(bot("tool-agent", "9"))
    assert "'chat@1'" in str(caught.value) and "'tool-agent@1'" in str(caught.value)


async def test_a_real_model_without_langchain_names_the_extra() -> None:
    if importlib.util.find_spec("langchain") is not None:
        pytest.skip("langchain is installed here")
    manager = SessionManager(
        framework="langgraph", agents=[bot("chat", model="openai:gpt-4o-mini")]
    )
    with pytest.raises(Exception) as caught:
        await manager.execute(say("s", "hello"))
    assert "sessionful-langgraph[models]" in str(caught.value.__cause__ or caught.value)


async def test_bad_model_spec_is_a_configuration_error() -> None:
    manager = SessionManager(framework="langgraph", agents=[bot("chat", model=42)])
    with pytest.raises(ConfigurationError, match="provider:model-name"):
        await manager.execute(say("s", "hello"))


async def test_a_checkpointer_thread_survives_eviction_and_goes_when_the_session_ends() -> None:
    saver = InMemorySaver(serde=strict_serializer())
    manager = SessionManager(
        framework="langgraph", framework_settings={"checkpointer": saver}, agents=[bot("chat")]
    )
    async with manager:
        await manager.execute(say("s1", "My name is Ada"))
        await manager.execute(say("s2", "My name is Bob"))
        again = await manager.execute(say("s1", "What is my name?"))
        assert again.messages[-1].content == "Your name is Ada."
        assert f"{BOT}#s1" in saver.storage and f"{BOT}#s2" in saver.storage
        await manager.end_session(BOT, "s1")
        assert f"{BOT}#s1" not in saver.storage and f"{BOT}#s2" in saver.storage
        await manager.evict(f"{BOT}#s2")
        assert f"{BOT}#s2" in saver.storage  # unloaded for now: the user's saver keeps it
        back = await manager.execute(say("s2", "What is my name?"))
        assert (back.instance_event, back.messages[-1].content) == ("created", "Your name is Bob.")


async def test_default_mode_holds_only_the_latest_checkpoint_and_forgets_it_on_unload() -> None:
    manager = SessionManager(framework="langgraph", agents=[bot("chat")])
    factory = factory_of(manager)
    saver = factory.checkpointer
    assert isinstance(saver, LocalSaver) and factory.owns_checkpointer
    async with manager:
        for i in range(5):
            await manager.execute(say("s", f"message {i}"))
        thread = saver.threads[f"{BOT}#s"]
        assert [len(c) for c in thread.checkpoints.values()] == [1]
        state = await saver.aget_tuple({"configurable": {"thread_id": f"{BOT}#s"}})
        assert state is not None and len(state.checkpoint["channel_values"]["messages"]) == 10
        assert len(thread.blobs) <= len(state.checkpoint["channel_versions"])
        await manager.evict(f"{BOT}#s")
        assert f"{BOT}#s" not in saver.threads


def test_the_memory_checkpointer_uses_the_strict_serializer() -> None:
    from sessionful_langgraph import LangGraphFramework

    factory = LangGraphFramework().create_agent_factory({"checkpointer": "memory"})
    serde: Any = getattr(factory.checkpointer, "serde", None)
    assert serde.pickle_fallback is False
    assert serde._allowed_json_modules is None  # no LangChain constructor revival from JSON
    assert serde._allowed_msgpack_modules is None  # None here means: LangGraph safe types only


def test_invalid_settings_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid langgraph settings"):
        SessionManager(framework="langgraph", framework_settings={"durability": "never"})


async def test_stream_chunks_add_up_to_the_turn_and_count_only_when_complete() -> None:
    manager = SessionManager(framework="langgraph", agents=[bot()])
    async with manager:
        await manager.execute(say("s", "My name is Ada"))
        *chunks, result = [c async for c in manager.stream(say("s", "What is my name?"))]
        assert len(chunks) > 1
        assert "".join(c.text for c in chunks if isinstance(c, ChatMessage)) == (
            "Your name is Ada."
        )
        assert isinstance(result, ExecutionResult)
        assert result.messages[-1].content == "Your name is Ada."
        assert result.stats.turn_count == 2

        # Abandon a stream after its first chunk: the session is as if it never ran.
        async with contextlib.aclosing(manager.stream(say("s", "My name is Eve"))) as it:
            async for _ in it:
                break
        stats = manager.session_stats(SessionKey(BOT, "s"))
        assert stats is not None and stats.turn_count == 2
        after = await manager.execute(say("s", "What is my name?"))
        assert after.messages[-1].content == "Your name is Ada."


async def test_a_cancelled_stream_leaves_the_session_usable() -> None:
    manager = SessionManager(framework="langgraph", agents=[bot()])
    async with manager:
        await manager.execute(say("s", "My name is Ada"))

        async def consume() -> None:
            async for _ in manager.stream(say("s", "My name is Eve")):
                await asyncio.sleep(3600)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        result = await asyncio.wait_for(manager.execute(say("s", "What is my name?")), 10)
        assert result.messages[-1].content == "Your name is Ada."


async def test_stream_of_a_tool_turn_yields_every_message() -> None:
    manager = SessionManager(framework="langgraph", agents=[bot()])
    async with manager:
        *chunks, result = [c async for c in manager.stream(say("s", "Where is my order A-7?"))]
    assert isinstance(result, ExecutionResult)
    assert [m.role for m in result.messages] == ["assistant", "tool", "assistant"]
    by_index: dict[int, list[ChatMessage]] = {}
    updates = [c for c in chunks if isinstance(c, StreamEvent)]
    assert [next(iter(u.data)) for u in updates] == ["model", "tools", "model"]
    for chunk in chunks:
        if isinstance(chunk, ChatMessage):
            by_index.setdefault(chunk.metadata["index"], []).append(chunk)
    roles = [parts[0].role for _, parts in sorted(by_index.items())]
    assert roles == ["assistant", "tool", "assistant"]
    assert "A-7" in "".join(c.text for c in by_index[max(by_index)])


def test_neither_the_core_nor_another_framework_s_manager_imports_langgraph() -> None:
    """The entry point loads for every manager, so it must not drag LangGraph in (about a
    second of import time) until a LangGraph factory is actually built."""
    import subprocess
    import sys

    code = (
        "import sys, sessionful\n"
        "def heavy(): return [m for m in sys.modules if m.split('.')[0] in "
        "('langgraph', 'langchain_core')]\n"
        "assert not heavy(), heavy()\n"
        "manager = sessionful.SessionManager(framework='stub')\n"
        "assert 'langgraph' in manager.plugins.get_frameworks()\n"
        "assert not heavy(), heavy()\n"
        "sessionful.SessionManager(framework='langgraph')\n"
        "assert heavy()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_a_malformed_tool_call_is_bad_input_not_an_agent_failure() -> None:
    manager = SessionManager(framework="langgraph", agents=[bot("chat")])
    bad = ChatMessage.assistant("", metadata={"tool_calls": [{"name": 3}]})  # 0.1's layout
    command = ExecuteAgentCommand(
        agent_id=BOT, session_id="s", messages=[bad, ChatMessage.user("hello")]
    )
    async with manager:
        with pytest.raises(ConfigurationError, match="cannot be passed to LangGraph"):
            await manager.execute(command)
        after = await manager.execute(say("s", "hello"))  # the session is unharmed
    assert after.messages[-1].content == "Hello! How can I help?"
