"""AgentService, in process: the limits that do not need an HTTP server to show."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

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


async def test_creates_of_different_principals_run_side_by_side(tmp_path: Path) -> None:
    """Each principal's count-and-create is serialised, not everyone's: four principals each
    creating a session whose agent takes 0.5 s to create take about 0.5 s, not 2 s."""
    settings = Settings(
        store=f"sqlite:///{tmp_path / 'sessions.db'}",
        agents=[AgentConfig(id="bot", framework="stub", template_id="echo")],
        framework_settings={"stub": {"create_latency": 0.5}},
        limits=LimitsConfig(max_sessions_per_principal=1),
    )
    async with AgentService(settings) as service:
        started = time.monotonic()
        await asyncio.gather(*(service.create_session(p, "bot") for p in "abcd"))
        assert time.monotonic() - started < 1.5
        # Within one principal the limit still holds.
        outcomes = await asyncio.gather(
            *(service.create_session(p, "bot") for p in "eee"), return_exceptions=True
        )
        assert sum(isinstance(o, LimitExceeded) for o in outcomes) == 2


async def test_the_count_reads_no_more_than_the_limit(tmp_path: Path) -> None:
    settings = Settings(
        store="memory://",
        agents=[AgentConfig(id="bot", framework="stub", template_id="echo")],
        limits=LimitsConfig(max_sessions_per_principal=3),
    )
    async with AgentService(settings) as service:
        for _ in range(3):
            await service.create_session("alice", "bot")
        manager = service.manager_for("bot")
        asked: list[int] = []
        listing = manager.list_sessions

        async def counted(**options: Any) -> Any:
            asked.append(options["limit"])
            return await listing(**options)

        manager.list_sessions = counted  # type: ignore[method-assign]
        try:
            await service.create_session("alice", "bot")
        except LimitExceeded:
            pass
        else:  # pragma: no cover
            raise AssertionError("the limit did not hold")
        if not hasattr(manager, "count_sessions"):  # the store cannot count: a page at most
            assert asked and max(asked) <= 3
        else:
            assert asked == []
