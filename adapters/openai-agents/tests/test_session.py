"""``SessionfulSession`` answers as the SDK's own ``SQLiteSession`` does: the same cases run
against both, side by side, and must give the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, SQLiteSession

from sessionful.errors import LeaseLost
from sessionful.keys import SessionKey
from sessionful.stores import MemoryStore
from sessionful_openai_agents import OfflineModel, SessionfulSession

Sessions = tuple[Any, SessionfulSession]


@pytest.fixture
async def pair(store_url: str, tmp_path: Path) -> AsyncIterator[Sessions]:
    """The SDK's file-backed SQLiteSession and ours on ``store_url``, both empty."""
    theirs = SQLiteSession("conversation-1", tmp_path / "sdk.db")
    ours = SessionfulSession("conversation-1", store_url)
    yield theirs, ours
    theirs.close()
    await ours.close()


async def both(pair: Sessions, method: str, *args: Any) -> Any:
    """Call ``method`` on both sessions; they must answer alike; return the answer."""
    theirs, ours = pair
    expected = await getattr(theirs, method)(*args)
    got = await getattr(ours, method)(*args)
    assert got == expected, f"{method}{args}: SQLiteSession {expected!r}, SessionfulSession {got!r}"
    return got


def message(role: str, text: str) -> Any:
    """An input item as the SDK's sessions take it (a plain dict of its TypedDict shape)."""
    return {"role": role, "content": text}


async def test_empty_session(pair: Sessions) -> None:
    assert await both(pair, "get_items") == []
    assert await both(pair, "get_items", 3) == []
    assert await both(pair, "pop_item") is None


@pytest.mark.parametrize("limit", [None, -1, 0, 1, 2, 5, 100])
async def test_limits_return_the_latest_in_order(pair: Sessions, limit: int | None) -> None:
    await both(pair, "add_items", [message("user", f"m{i}") for i in range(5)])
    await both(pair, "get_items", limit)


async def test_ordering_across_adds(pair: Sessions) -> None:
    await both(pair, "add_items", [message("user", "a")])
    await both(pair, "add_items", [message("assistant", "b"), message("user", "c")])
    await both(pair, "add_items", [])
    assert [i["content"] for i in await both(pair, "get_items")] == ["a", "b", "c"]


async def test_pop_item_takes_the_latest(pair: Sessions) -> None:
    await both(pair, "add_items", [message("user", "a"), message("assistant", "b")])
    assert (await both(pair, "pop_item"))["content"] == "b"
    assert (await both(pair, "pop_item"))["content"] == "a"
    assert await both(pair, "pop_item") is None
    await both(pair, "get_items")


async def test_clear_then_add(pair: Sessions) -> None:
    await both(pair, "add_items", [message("user", "a"), message("assistant", "b")])
    await both(pair, "clear_session")
    assert await both(pair, "get_items") == []
    await both(pair, "add_items", [message("user", "after")])
    await both(pair, "get_items")
    await both(pair, "clear_session")
    await both(pair, "clear_session")  # clearing an empty session is fine


async def test_unicode_and_structured_items(pair: Sessions) -> None:
    items = [
        message("user", 'naïve café 日本語 🎉 \u2028 "quoted" \\ back'),
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "order_status",
            "arguments": '{"order_id": "A-1"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "shipped ✓"},
        {"role": "user", "content": [{"type": "input_text", "text": "blocks"}]},
    ]
    await both(pair, "add_items", items)
    assert await both(pair, "get_items") == items


async def test_many_items(pair: Sessions) -> None:
    await both(pair, "add_items", [message("user", f"m{i}") for i in range(500)])
    await both(pair, "add_items", [message("assistant", f"r{i}") for i in range(500)])
    assert len(await both(pair, "get_items")) == 1000
    await both(pair, "get_items", 7)
    await both(pair, "pop_item")
    await both(pair, "get_items", 3)


async def test_sessions_are_apart(store_url: str) -> None:
    store = SessionfulSession("one", store_url).store
    one, two = SessionfulSession("one", store), SessionfulSession("two", store)
    await one.add_items([message("user", "for one")])
    assert await two.get_items() == []
    await two.clear_session()
    assert len(await one.get_items()) == 1
    await store.aclose()


async def test_items_survive_a_new_store_object(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    first = SessionfulSession("c", url)
    await first.add_items([message("user", "kept")])
    await first.close()
    again = SessionfulSession("c", url)
    assert await again.get_items() == [message("user", "kept")]
    await again.close()


async def test_runner_uses_it_like_sqlite_session(store_url: str) -> None:
    """The SDK's own way: ``Runner.run(agent, input, session=...)`` remembers across runs."""
    agent = Agent(name="Assistant", model=OfflineModel())
    session = SessionfulSession("runner", store_url)
    config = RunConfig(tracing_disabled=True)
    await Runner.run(agent, "My name is Ada", session=session, run_config=config)
    result = await Runner.run(agent, "What is my name?", session=session, run_config=config)
    assert result.final_output == "Your name is Ada."
    assert len(await session.get_items()) == 4
    await session.close()


async def test_writes_are_fenced_by_the_lease() -> None:
    """With a lease, a write after someone else claimed the session lands nothing."""
    store = MemoryStore()
    key = SessionKey("bot", "s1")
    lease, _ = await store.claim(key, "a", "t", "1", 0.0)
    session = SessionfulSession(str(key), store, lease=lease)
    await session.add_items([message("user", "first")])
    await store.claim(key, "b", "t", "1", 1.0)  # another process takes the session over
    with pytest.raises(LeaseLost):
        await session.add_items([message("user", "stale")])
    with pytest.raises(LeaseLost):
        await session.pop_item()
    with pytest.raises(LeaseLost):
        await session.clear_session()
    assert await session.get_items() == [message("user", "first")]


async def test_sqlite_writes_are_fenced(tmp_path: Path) -> None:
    from sessionful.stores import SQLiteStore

    store = SQLiteStore(tmp_path / "s.db")
    key = SessionKey("bot", "s1")
    lease, _ = await store.claim(key, "a", "t", "1", 0.0)
    session = SessionfulSession(str(key), store, lease=lease)
    await session.add_items([message("user", "first")])
    await store.claim(key, "b", "t", "1", 1.0)
    with pytest.raises(LeaseLost):
        await session.add_items([message("user", "stale")])
    assert await session.get_items() == [message("user", "first")]
    await store.aclose()
