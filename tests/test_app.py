"""AgentService, in process: the limits that do not need an HTTP server to show."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sessionful.service.app import AgentService, LimitExceeded
from sessionful.service.config import AgentConfig, LimitsConfig, Settings


async def test_concurrent_creates_never_overshoot_the_per_principal_limit(tmp_path: Path) -> None:
    settings = Settings(
        store=f"sqlite:///{tmp_path / 'sessions.db'}",  # real awaits between count and create
        agents=[AgentConfig(id="bot", framework="stub", template_id="echo")],
        limits=LimitsConfig(max_sessions_per_principal=3),
    )
    async with AgentService(settings) as service:
        outcomes = await asyncio.gather(
            *(service.create_session("alice", "bot") for _ in range(12)), return_exceptions=True
        )
        made = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, LimitExceeded)]
        assert (len(made), len(refused)) == (3, 9)
        assert len((await service.list_sessions("alice")).sessions) == 3
        await service.create_session("bob", "bot")  # another principal has its own budget
