import asyncio
import time

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    LifecyclePolicy,
    SessionManager,
)


async def main() -> None:
    manager = SessionManager(
        framework="stub",  # a registered framework's name (or a Framework object)
        strategy="per_session",  # "shared" | "per_session" | "persisted" | a plugin's strategy
        lifecycle=LifecyclePolicy(idle_timeout=1800, max_lifetime=None, max_active=10_000),
        clock=time.monotonic,  # any zero-argument callable returning seconds
    )
    manager.register_agent(
        AgentDefinition(
            id="customer-service-bot",
            name="Customer service",
            template_id="echo",
            template_version="1",
        )
    )
    async with manager:  # runs the background sweeper; unloads every instance on exit
        for text in ["Hello", "What's my order status?"]:
            result = await manager.execute(
                ExecuteAgentCommand(
                    agent_id="customer-service-bot",
                    session_id="session-abc-123",
                    messages=[ChatMessage.user(text)],
                )
            )
            print(result.instance_event, result.session_key, result.messages[-1].content)
        # created customer-service-bot#session-abc-123 echo #1: Hello
        # reused customer-service-bot#session-abc-123 echo #2: What's my order status?

        print(result.stats.turn_count, result.stats.message_count)  # 2 4
        await manager.cleanup_inactive()  # what the sweeper does every sweep_interval
        await manager.end_session("customer-service-bot", "session-abc-123")


asyncio.run(main())
