"""The SDK side of issue 15: sessions created with an end user and labels, listings filtered by
them, counted by the store, and feedback recorded with the session (persisted: stored and deleted
with it; per_session: kept with the live instance)."""

from __future__ import annotations

import pytest

from sessionful import AgentDefinition, ConfigurationError, SessionManager, SessionNotFound
from sessionful.stores import MemoryStore

AGENT = AgentDefinition(id="bot", name="bot", template_id="echo")


@pytest.mark.parametrize("strategy", ["persisted", "per_session"])
async def test_feedback_is_kept_with_the_session(strategy: str) -> None:
    store = MemoryStore() if strategy == "persisted" else None
    async with SessionManager("stub", strategy, agents=[AGENT], store=store) as manager:
        key, _ = await manager.open_session("bot", "s-1", namespace="acme")
        assert await manager.record_feedback(key, 4, "good", turn=0) == (1, 4.0)
        assert await manager.record_feedback(str(key), "down") == (2, 2.5)
        assert await manager.record_feedback(key, "up", scale=(0, 10)) == (3, 5.0)
        stats = manager.session_stats(key)
        assert stats is not None and (stats.feedback_count, stats.feedback_mean) == (3, 5.0)
        for bad in (0, 6, float("nan"), True, "meh"):
            with pytest.raises(ConfigurationError):
                await manager.record_feedback(key, bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError):
            await manager.record_feedback(key, 3, turn=-1)
        with pytest.raises(SessionNotFound):
            await manager.record_feedback(manager.key_for("bot", "never", "acme"), 3)
        if strategy == "persisted":
            ratings = await manager.feedback(key)
            assert [(f.rating, f.comment, f.turn) for f in ratings] == [
                (4.0, "good", 0),
                (1.0, None, None),
                (10.0, None, None),
            ]
            report = await manager.end_session("bot", "s-1", namespace="acme")
            assert report.deleted["feedback"] == 3
            again, _ = await manager.open_session("bot", "s-1", namespace="acme")
            record = await manager.session_record(again)
            assert record is not None and record.feedback_count == 0
            assert await manager.feedback(again) == []
        else:
            assert await manager.feedback(key) == []


async def test_a_restored_session_keeps_its_feedback_in_its_stats() -> None:
    store = MemoryStore()
    async with SessionManager("stub", "persisted", agents=[AGENT], store=store) as manager:
        key, _ = await manager.open_session("bot", "s-1")
        await manager.record_feedback(key, 5)
        await manager.record_feedback(key, 3)
        await manager.evict(key)
        await manager.open_session("bot", "s-1")
        stats = manager.session_stats(key)
        assert stats is not None and (stats.feedback_count, stats.feedback_mean) == (2, 4.0)


async def test_users_and_labels_filter_listings_and_counts() -> None:
    async with SessionManager("stub", "persisted", agents=[AGENT], store=MemoryStore()) as manager:
        await manager.open_session(
            "bot", "a", namespace="acme", user_id="u-7", labels={"ch": "web"}
        )
        await manager.open_session(
            "bot", "b", namespace="acme", user_id="u-7", labels={"ch": "app"}
        )
        await manager.open_session("bot", "c", namespace="globex", user_id="u-8")
        # A second open does not relabel.
        await manager.open_session("bot", "a", namespace="acme", user_id="x", labels={"ch": "x"})

        async def ids(**filters: object) -> list[str | None]:
            return [r.key.session_id for r in await manager.list_sessions(**filters)]  # type: ignore[arg-type]

        assert await ids(user_id="u-7") == ["a", "b"]
        assert await ids(labels={"ch": "web"}) == ["a"]
        assert await ids(user_id="u-8", namespace="acme") == []
        assert await ids(active_after=0.0) == ["a", "b", "c"]
        assert await ids(active_before=0.0) == []
        assert await manager.count_sessions() == 3
        assert await manager.count_sessions("acme") == 2
        assert await manager.count_sessions("acme", agent_id="other") == 0


async def test_count_sessions_without_a_store_counts_live_instances() -> None:
    async with SessionManager("stub", "per_session", agents=[AGENT]) as manager:
        for session in ("a", "b"):
            await manager.open_session("bot", session, namespace="acme")
        await manager.open_session("bot", "c")
        assert await manager.count_sessions() == 3
        assert await manager.count_sessions("acme") == 2
