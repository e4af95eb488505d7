"""A LangGraph support bot: two customers, each remembered in their own session, offline.

Run: .venv/bin/python examples/langgraph_support.py

Shows a platform team's own template registered through the ``register_templates`` hook (passed
here as a plugin object; a package would use the ``sessionful`` entry point), the built-in
``tool-agent`` template calling ``order_status``, a refund a person approves first (the graph's
``interrupt()`` ends the turn ``interrupted``; the next turn answers it with ``resume``),
streaming with typed ``updates`` events, and the analytics with token usage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from sessionful import (
    AgentDefinition,
    AgentTemplate,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    SessionManager,
    StreamEvent,
    hookimpl,
)
from sessionful_langgraph import BuildContext, template


def build_polite(context: BuildContext) -> StateGraph[Any]:
    """The chat template, with a sign-off message after every answer."""
    model = context.model
    sign_off = str(context.configuration.get("sign_off", "-- the support team"))

    async def respond(state: MessagesState) -> dict[str, Any]:
        answer = await model.ainvoke(state["messages"])
        return {"messages": [answer, AIMessage(content=sign_off)]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", respond)
    graph.add_edge(START, "model")
    graph.add_edge("model", END)
    return graph


class MyTemplates:
    """What a platform team's package would register through its entry point."""

    @hookimpl
    def register_templates(self, register: Callable[[AgentTemplate], None]) -> None:
        register(template("polite-chat", "1", build_polite))


def say(agent: str, session: str, text: str) -> ExecuteAgentCommand:
    return ExecuteAgentCommand(
        agent_id=agent, session_id=session, messages=[ChatMessage.user(text)]
    )


def show(result: ExecutionResult) -> None:
    for message in result.messages:
        calls = ", ".join(f"{call.name}({call.args})" for call in message.tool_calls)
        print(f"    {message.role}: {message.text or f'(calls {calls})'}")


async def main() -> None:
    manager = SessionManager(framework="langgraph", strategy="per_session", plugins=[MyTemplates()])
    manager.register_agent(
        AgentDefinition(
            id="customer-service-bot",
            name="Support",
            template_id="tool-agent",
            template_version="1",
        )
    )
    manager.register_agent(
        AgentDefinition(
            id="concierge",
            name="Concierge",
            template_id="polite-chat",
            configuration={"sign_off": "-- Concierge"},
        )
    )
    async with manager:
        conversation = [
            ("session-ada", "Hello, my name is Ada"),
            ("session-bob", "Hi, my name is Bob"),
            ("session-ada", "What's my order status?"),
            ("session-ada", "What is my name?"),
            ("session-bob", "What is my name?"),
        ]
        for session, text in conversation:
            result = await manager.execute(say("customer-service-bot", session, text))
            print(f"[{session} · {result.instance_event}] user: {text}")
            show(result)

        # Human in the loop: the refund tool asks for approval before it runs.
        asked = await manager.execute(
            say("customer-service-bot", "session-ada", "Please refund $20 on order A-1001")
        )
        question = asked.interrupts[0]
        print(f"[session-ada · {asked.status}] asks: {question.value['question']}")
        approved = await manager.execute(
            ExecuteAgentCommand(
                agent_id="customer-service-bot",
                session_id="session-ada",
                resume={question.id: "yes"},
            )
        )
        print(f"[session-ada · {approved.status}] approved: yes")
        show(approved)

        print("streaming:", end=" ")
        async for item in manager.stream(say("concierge", "guest-1", "Hello, my name is Ada")):
            if isinstance(item, ExecutionResult):  # the stream ends with the turn's result
                print(f" ({item.instance_event}, turn {item.stats.turn_count})")
            elif isinstance(item, StreamEvent):  # a node's state update
                print(f"[{item.type}: {', '.join(item.data)}]", end="", flush=True)
            else:
                print(item.text, end="|", flush=True)

        for key in manager.list_agents():
            stats = manager.session_stats(key)
            assert stats is not None
            print(
                f"{key}: {stats.turn_count} turns, {stats.message_count} messages, "
                f"{stats.input_tokens} tokens in, {stats.output_tokens} out"
            )
        print(manager.stats())


if __name__ == "__main__":
    asyncio.run(main())
