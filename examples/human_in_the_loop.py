"""Human in the loop with the stub: a turn stops with a question, the next turn answers it.

The stub asks deterministically: a user message starting with ``ask:`` stops the turn with one
interrupt whose value is the rest of the text, and the turn that resumes it replies
``answered: <answer>``. A real agent asks the same way (LangGraph's ``interrupt()``, a tool that
needs approval); see docs/human-in-the-loop.md.

Run it: ``python examples/human_in_the_loop.py``.
"""

from __future__ import annotations

import asyncio

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    InterruptPending,
    SessionManager,
)


async def main() -> None:
    async with SessionManager(
        framework="stub", agents=[AgentDefinition(id="bot", name="Bot", template_id="echo")]
    ) as manager:
        # 1. The agent asks before it acts: the turn ends "interrupted", with the question.
        r = await manager.execute(
            ExecuteAgentCommand(
                agent_id="bot", session_id="s1", messages=[ChatMessage.user("ask: refund $20?")]
            )
        )
        assert r.status == "interrupted" and r.interrupts[0].value == "refund $20?"
        question = r.interrupts[0]
        print(f"status: {r.status}; the agent asks {question.value!r} (interrupt {question.id})")

        # 2. The session waits: its stats list the question, and a turn that does not answer
        #    it is refused.
        stats = manager.session_stats(r.session_key)
        assert stats is not None
        print(f"pending: {[i.id for i in stats.interrupts]}")
        try:
            await manager.execute(
                ExecuteAgentCommand(
                    agent_id="bot", session_id="s1", messages=[ChatMessage.user("hello?")]
                )
            )
        except InterruptPending as exc:
            print(f"refused: {exc}")

        # 3. The answer: resume={interrupt id: answer}, no messages needed.
        r = await manager.execute(
            ExecuteAgentCommand(agent_id="bot", session_id="s1", resume={question.id: "yes"})
        )
        assert r.status == "completed" and r.messages[-1].content == "answered: yes"
        print(f"status: {r.status}; reply: {r.messages[-1].content}")

        # Per-turn context reaches the agent for that turn only; it is never stored.
        r = await manager.execute(
            ExecuteAgentCommand(
                agent_id="bot",
                session_id="s1",
                messages=[ChatMessage.user("context?")],
                context={"user_id": "u-42", "locale": "fr-CA"},
            )
        )
        print(f"reply: {r.messages[-1].content}")

        # Usage: every turn reports its tokens, and the session keeps the totals.
        stats = manager.session_stats(r.session_key)
        assert stats is not None and r.usage is not None
        print(
            f"this turn: {r.usage.input_tokens} in / {r.usage.output_tokens} out; "
            f"session: {stats.input_tokens} in / {stats.output_tokens} out over "
            f"{stats.turn_count} turns"
        )


if __name__ == "__main__":
    asyncio.run(main())
