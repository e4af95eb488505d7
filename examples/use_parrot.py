"""Use the third-party adapter in examples/third_party_adapter/ without installing it.

Installed (``pip install ./examples/third_party_adapter``), its entry point registers it and
``SessionManager(framework="parrot")`` is all it takes. Uninstalled, as here, hand the manager
the module as a plugin: its ``register_frameworks`` hook runs exactly as the entry point's would.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sessionful import AgentDefinition, ChatMessage, ExecuteAgentCommand, SessionManager

# Stands in for `pip install`: make the adapter's one module importable.
sys.path.insert(0, str(Path(__file__).parent / "third_party_adapter"))
import sessionful_parrot


async def main() -> None:
    async with SessionManager(
        framework="parrot",
        plugins=[sessionful_parrot],
        framework_settings={"greeting": "Rawk!"},
        agents=[AgentDefinition(id="polly", name="Polly", template_id="parrot")],
    ) as manager:
        for session_id, text in [("s1", "hello"), ("s2", "bonjour"), ("s1", "crackers?")]:
            result = await manager.execute(
                ExecuteAgentCommand(
                    agent_id="polly", session_id=session_id, messages=[ChatMessage.user(text)]
                )
            )
            print(f"{result.session_key}: {result.instance_event:<8} {result.messages[-1].content}")

    # Or skip the plugin machinery and pass the Framework object itself.
    async with SessionManager(
        framework=sessionful_parrot.ParrotFramework(),
        agents=[AgentDefinition(id="polly", name="Polly", template_id="parrot")],
    ) as manager:
        result = await manager.execute(
            ExecuteAgentCommand(agent_id="polly", messages=[ChatMessage.user("hi")])
        )
        print(f"{result.session_key}: {result.instance_event:<8} {result.messages[-1].content}")


if __name__ == "__main__":
    asyncio.run(main())
