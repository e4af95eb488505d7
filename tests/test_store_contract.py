"""The SessionStore contract, run against every store: ``memory``, ``sqlite`` (a file under
tmp_path) and ``postgres`` (a schema of its own on the server ``scripts/with-postgres.sh``
starts; skipped loudly without one).

Fencing, the log after the snapshot, listing, deletion, retention, JSON round trips, a
Hypothesis model of claims and writes by several owners, poisoned rows written straight into
the database, schema versions, and a scan of the sources for unpickling modules.
"""

from __future__ import annotations

import ast
import asyncio
import io
import json
import sqlite3
import subprocess
import sys
import tokenize
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionful import (
    ChatMessage,
    ConfigurationError,
    CorruptSessionData,
    Interrupt,
    LeaseLost,
    SchemaTooNew,
    SessionKey,
    SessionNotFound,
    StoreUnavailable,
)
from sessionful._plugins import Plugins
from sessionful.content import ImageBlock, ReasoningBlock, TextBlock, ToolCall, Usage
from sessionful.stores import (
    MAX_JSON_DEPTH,
    SCHEMA_VERSION,
    Feedback,
    Lease,
    MemoryStore,
    PostgresStore,
    SessionStore,
    SQLiteStore,
    TurnWrite,
)

KINDS = ["memory", "sqlite", "postgres"]
SQL_KINDS = ["sqlite", "postgres"]
REPO = Path(__file__).resolve().parents[1]

MakeStore = Callable[[], SessionStore]


# -- fixtures ----------------------------------------------------------------------------------


class Raw:
    """Straight access to a store's database, bypassing the store (for poisoning rows)."""

    def __init__(self, kind: str, target: Any) -> None:
        self.kind = kind
        self.target = target  # a MemoryStore, a SQLite path or a Postgres URL
        self.sessions = "sessionful" if kind == "postgres" else "sessions"
        self.messages = "sessionful_messages" if kind == "postgres" else "messages"

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.target)) as conn, conn:
                conn.execute(statement, params)
        elif self.kind == "postgres":
            import psycopg

            with psycopg.connect(self.target, autocommit=True) as pg:
                pg.execute(statement.replace("?", "%s"), params)
        else:
            raise AssertionError("the memory store has no SQL")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def target(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return tmp_path / "sessions.db"
    return request.getfixturevalue("postgres_dsn")


@pytest.fixture
def make_store(kind: str, target: Any) -> MakeStore:
    """Builds another store on the same database (the memory store is shared instead)."""

    def make() -> SessionStore:
        if kind == "memory":
            assert isinstance(target, MemoryStore)
            return target
        if kind == "sqlite":
            return SQLiteStore(target, synchronous="NORMAL")
        return PostgresStore(target, retry=5)

    return make


@pytest.fixture
def raw(kind: str, target: Any) -> Raw:
    return Raw(kind, target)


@asynccontextmanager
async def opened(make: MakeStore) -> AsyncIterator[SessionStore]:
    store = make()
    await store.open()
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
async def store(make_store: MakeStore) -> AsyncIterator[SessionStore]:
    async with opened(make_store) as store:
        yield store


def key(session: str = "s1", agent: str = "bot", namespace: str | None = "acme") -> SessionKey:
    return SessionKey(agent, session, namespace)


def turn(
    n: int, *texts: str, at: float = 1_000.0, snapshot: dict[str, Any] | None = None
) -> TurnWrite:
    messages = [ChatMessage.user(f"q{n}"), ChatMessage.assistant(f"a{n}")]
    if texts:
        messages = [ChatMessage.user(t) for t in texts]
    return TurnWrite(n, messages, at + n, 0.5, snapshot)


async def claim(store: SessionStore, k: SessionKey, owner: str, now: float = 1_000.0) -> Any:
    return await store.claim(k, owner, "echo", "1", now)


# -- claims and fencing -------------------------------------------------------------------------


async def test_claim_creates_then_bumps_the_epoch(store: SessionStore) -> None:
    k = key()
    lease, loaded = await claim(store, k, "A")
    assert lease == Lease(k, 1, "A") and loaded is None
    record = await store.get(k)
    assert record is not None
    assert (record.key, record.epoch, record.owner, record.turn_count) == (k, 1, "A", 0)
    assert (record.template_id, record.template_version) == ("echo", "1")
    assert record.created_at == record.last_activity == 1_000.0

    lease_b, loaded_b = await claim(store, k, "B", now=2_000.0)
    assert lease_b == Lease(k, 2, "B")
    assert loaded_b is not None
    assert loaded_b.record.epoch == 2 and loaded_b.record.owner == "B"
    assert loaded_b.record.created_at == 1_000.0  # a claim is not activity
    assert (loaded_b.snapshot, loaded_b.snapshot_turn, loaded_b.messages) == (None, 0, [])

    lease_a, _ = await claim(store, k, "A")
    assert lease_a.epoch == 3
    assert await store.get(key("other")) is None


async def test_a_stale_epoch_is_refused_and_writes_nothing(store: SessionStore) -> None:
    k = key()
    old, _ = await claim(store, k, "A")
    await store.append_turn(old, turn(1))
    new, _ = await claim(store, k, "B")

    with pytest.raises(LeaseLost) as info:
        await store.append_turn(old, turn(2, snapshot={"stale": True}))
    assert info.value.key == k and info.value.epoch == 1
    with pytest.raises(LeaseLost):
        await store.check(old)
    with pytest.raises(LeaseLost):
        await store.save_snapshot(old, 1, {"stale": True})
    record = await store.get(k)
    assert record is not None and record.turn_count == 1 and record.message_count == 2
    assert [m.content for m in await store.history(k)] == ["q1", "a1"]

    await store.check(new)
    await store.append_turn(new, turn(2))
    _, loaded = await claim(store, k, "C")
    assert loaded is not None and loaded.snapshot is None
    assert [m.content for m in loaded.messages] == ["q1", "a1", "q2", "a2"]


async def test_a_wrong_turn_number_is_refused(store: SessionStore) -> None:
    k = key()
    lease, _ = await claim(store, k, "A")
    for wrong in (0, 2, -1):
        with pytest.raises(LeaseLost):
            await store.append_turn(lease, turn(wrong))
    await store.append_turn(lease, turn(1))
    for wrong in (1, 3):
        with pytest.raises(LeaseLost):
            await store.append_turn(lease, turn(wrong))
    await store.append_turn(lease, turn(2))
    record = await store.get(k)
    assert record is not None
    assert (record.turn_count, record.message_count) == (2, 4)
    assert record.last_activity == 1_002.0 and record.response_time_sum == 1.0
    assert [m.content for m in await store.history(k)] == ["q1", "a1", "q2", "a2"]


async def test_check_refuses_a_deleted_session(store: SessionStore) -> None:
    lease, _ = await claim(store, key(), "A")
    await store.check(lease)
    await store.delete(key())
    with pytest.raises(LeaseLost):
        await store.check(lease)
    with pytest.raises(LeaseLost):
        await store.append_turn(lease, turn(1))


async def test_a_lease_from_before_a_delete_cannot_write_to_the_recreated_session(
    store: SessionStore,
) -> None:
    """Deleting resets the epoch; the owner in the lease still tells the leases apart."""
    k = key()
    stale, _ = await claim(store, k, "A")
    await store.append_turn(stale, turn(1))
    await store.delete(k)
    fresh, _ = await claim(store, k, "B")
    await store.append_turn(fresh, turn(1, "new conversation"))
    assert fresh.epoch == stale.epoch == 1
    with pytest.raises(LeaseLost):
        await store.check(stale)
    with pytest.raises(LeaseLost):
        await store.append_turn(stale, turn(2, "forked"))
    with pytest.raises(LeaseLost):
        await store.save_snapshot(stale, 1, {"forked": True})
    assert [m.content for m in await store.history(k)] == ["new conversation"]


async def test_claim_by_another_owner_loads_the_log(make_store: MakeStore) -> None:
    k = key()
    async with opened(make_store) as first, opened(make_store) as second:
        lease, _ = await claim(first, k, "A")
        for n in (1, 2, 3):
            await first.append_turn(lease, turn(n))
        lease_b, loaded = await claim(second, k, "B")
        assert lease_b.epoch == 2
        assert loaded is not None
        assert [m.content for m in loaded.messages] == ["q1", "a1", "q2", "a2", "q3", "a3"]
        assert [m.role for m in loaded.messages] == ["user", "assistant"] * 3
        assert loaded.record.turn_count == 3 and loaded.record.message_count == 6
        assert loaded.record.response_time_sum == 1.5 and loaded.record.last_activity == 1_003.0
        with pytest.raises(LeaseLost):
            await first.check(lease)
        await second.append_turn(lease_b, turn(4))
        assert len(await first.history(k)) == 8


async def test_concurrent_claims_get_distinct_epochs(make_store: MakeStore) -> None:
    k = key()
    async with opened(make_store) as a, opened(make_store) as b, opened(make_store) as c:
        stores = [a, b, c] * 4
        leases = await asyncio.gather(*(claim(s, k, f"owner-{i}") for i, s in enumerate(stores)))
    epochs = sorted(lease.epoch for lease, _ in leases)
    assert epochs == list(range(1, len(stores) + 1))
    assert sum(loaded is None for _, loaded in leases) == 1  # exactly one created it


# -- snapshots -------------------------------------------------------------------------------------


async def test_save_snapshot_is_fenced(store: SessionStore) -> None:
    k = key()
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1))
    await store.append_turn(lease, turn(2))
    for wrong in (1, 3):
        with pytest.raises(LeaseLost):
            await store.save_snapshot(lease, wrong, {"at": wrong})
    await store.save_snapshot(lease, 2, {"at": 2})
    _, loaded = await claim(store, k, "B")
    assert loaded is not None
    assert (loaded.snapshot, loaded.snapshot_turn, loaded.messages) == ({"at": 2}, 2, [])
    with pytest.raises(LeaseLost):
        await store.save_snapshot(lease, 2, {"stale": True})
    _, loaded = await claim(store, k, "C")
    assert loaded is not None and loaded.snapshot == {"at": 2}


async def test_the_log_is_replayed_from_the_snapshot_on(store: SessionStore) -> None:
    k = key()
    lease, _ = await claim(store, k, "A")
    for n in (1, 2, 3, 4, 5):
        await store.append_turn(lease, turn(n, snapshot={"turns": n} if n == 3 else None))
    lease, loaded = await claim(store, k, "B")
    assert loaded is not None
    assert (loaded.snapshot, loaded.snapshot_turn) == ({"turns": 3}, 3)
    assert [m.content for m in loaded.messages] == ["q4", "a4", "q5", "a5"]
    assert loaded.record.turn_count == 5

    await store.save_snapshot(lease, 5, {"turns": 5})
    lease, loaded = await claim(store, k, "C")
    assert loaded is not None
    assert (loaded.snapshot, loaded.snapshot_turn, loaded.messages) == ({"turns": 5}, 5, [])

    await store.append_turn(lease, turn(6))
    _, loaded = await claim(store, k, "D")
    assert loaded is not None and loaded.snapshot_turn == 5
    assert [m.content for m in loaded.messages] == ["q6", "a6"]
    # The whole log stays, snapshot or not.
    assert len(await store.history(k)) == 12


# -- reading -------------------------------------------------------------------------------------


async def test_history_is_oldest_first_and_limited_to_the_latest(store: SessionStore) -> None:
    k = key()
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1, "m1", "m2", "m3"))
    await store.append_turn(lease, turn(2, "m4"))
    await store.append_turn(lease, turn(3, "m5", "m6"))
    everything = [f"m{i}" for i in range(1, 7)]
    assert [m.content for m in await store.history(k)] == everything
    assert [m.content for m in await store.history(k, 4)] == everything[-4:]
    assert [m.content for m in await store.history(k, 1)] == ["m6"]
    assert await store.history(k, 0) == []
    assert [m.content for m in await store.history(k, 100)] == everything
    assert await store.history(key("nobody")) == []


LISTED = [
    SessionKey("bot", "s1", "acme"),
    SessionKey("bot", "s2", "acme"),
    SessionKey("bot", "s3", "globex"),
    SessionKey("helper", "s1", "acme"),
    SessionKey("bot", "s1"),
    SessionKey("bot"),
    SessionKey("bot", "é-ünïcode", "acme"),
    SessionKey("bot", "日本語", "acme"),
    SessionKey("bot", "a#b|c\\d", "acme"),
    SessionKey("Bot", "UPPER", "acme"),
    SessionKey("bot", "emoji-🙂", "acme"),
]


async def test_list_sessions_filters_and_pages_by_key(store: SessionStore) -> None:
    for i, k in enumerate(LISTED):
        await claim(store, k, "A", now=1_000.0 + i)
    by_text = sorted(LISTED, key=str)  # code point order, as every store sorts

    assert [r.key for r in await store.list_sessions()] == by_text
    acme = [k for k in by_text if k.namespace == "acme"]
    assert [r.key for r in await store.list_sessions(namespace="acme")] == acme
    bots = [k for k in by_text if k.agent_id == "bot"]
    assert [r.key for r in await store.list_sessions(agent_id="bot")] == bots
    both = [k for k in acme if k.agent_id == "bot"]
    assert [r.key for r in await store.list_sessions(namespace="acme", agent_id="bot")] == both
    assert await store.list_sessions(namespace="initech") == []

    for size in (1, 2, 3, 100):
        paged: list[SessionKey] = []
        after: str | None = None
        while True:
            page = await store.list_sessions(after=after, limit=size)
            assert len(page) <= size
            if not page:
                break
            paged += [r.key for r in page]
            after = str(page[-1].key)
        assert paged == by_text

    page = await store.list_sessions(namespace="acme", after=str(acme[1]), limit=2)
    assert [r.key for r in page] == acme[2:4]
    record = (await store.list_sessions(namespace="globex"))[0]
    assert (record.epoch, record.owner, record.created_at) == (1, "A", 1_002.0)


# -- deleting and retention --------------------------------------------------------------------


async def test_delete_reports_what_it_removed(store: SessionStore) -> None:
    k, other = key("s1"), key("s2")
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1))
    await store.append_turn(lease, turn(2, "x", "y", "z", snapshot={"n": 2}))
    lease_o, _ = await claim(store, other, "A")
    await store.append_turn(lease_o, turn(1))

    assert await store.delete(k) == {"sessions": 1, "messages": 5, "snapshots": 1}
    assert await store.get(k) is None
    assert await store.history(k) == []
    assert [r.key for r in await store.list_sessions()] == [other]
    assert await store.delete(k) == {"sessions": 0, "messages": 0, "snapshots": 0}

    assert await store.delete(other) == {"sessions": 1, "messages": 2, "snapshots": 0}
    assert await store.list_sessions() == []
    lease, loaded = await claim(store, k, "B")
    assert loaded is None and lease.epoch == 1  # a fresh session


async def test_purge_idle_deletes_bounded_batches_oldest_first(store: SessionStore) -> None:
    keys = [key(f"s{i}") for i in range(6)]
    for i, k in enumerate(reversed(keys)):  # created newest key first: order is by activity
        await claim(store, k, "A", now=100.0 * i)
    # s5 was created at 0, s4 at 100, s3 at 200...; s4 gets a turn at 1000: active again.
    lease, _ = await claim(store, keys[4], "A")
    await store.append_turn(lease, TurnWrite(1, [ChatMessage.user("hi")], 1_000.0, 0.1))

    assert await store.purge_idle(350.0, 2) == [keys[5], keys[3]]
    assert await store.purge_idle(350.0, 2) == [keys[2]]
    assert await store.purge_idle(350.0, 2) == []
    assert {r.key for r in await store.list_sessions()} == {keys[0], keys[1], keys[4]}
    assert await store.purge_idle(1_000.0, 10) == [keys[1], keys[0]]  # strictly older
    assert await store.purge_idle(1_000.5, 10) == [keys[4]]
    assert await store.history(keys[4]) == []
    assert await store.list_sessions() == []
    assert await store.purge_idle(1e12, 10) == []


async def test_concurrent_purgers_take_disjoint_batches(make_store: MakeStore) -> None:
    keys = [key(f"s{i:02}") for i in range(12)]
    async with opened(make_store) as a, opened(make_store) as b:
        for i, k in enumerate(keys):
            lease, _ = await claim(a, k, "A", now=float(i))
            await a.append_turn(lease, TurnWrite(1, [ChatMessage.user("x")], float(i), 0.0))
        purged: list[SessionKey] = []
        while True:
            batches = await asyncio.gather(a.purge_idle(100.0, 3), b.purge_idle(100.0, 3))
            if not any(batches):
                break
            for batch in batches:
                assert len(batch) <= 3
                purged += batch
        assert sorted(purged, key=str) == keys  # each exactly once
        assert await a.list_sessions() == []


# -- JSON round trips ----------------------------------------------------------------------------

ODD_TEXTS = [
    "plain",
    "",
    "quotes ' \" `backticks` and \\ backslashes \\\\",
    "'); DROP TABLE sessions; --",
    "unicode: é ñ ü ß ø 日本語 中文 한국어 עברית العربية 🙂👍🏽 \u200b zero-width, e\u0301",
    "control: \t tab \n newline \r return \x00 NUL \x1b escape \x7f",
    '{"lc": 1, "type": "constructor"} as plain text is just text',
    "\U0010ffff the last code point",
]


async def test_odd_content_round_trips_exactly(store: SessionStore) -> None:
    k = key()
    big = "0123456789abcdéf" * 65_536  # 1 Mi characters
    messages = [
        *(ChatMessage.user(text) for text in ODD_TEXTS),
        ChatMessage.assistant(big),
        ChatMessage.tool("result", name="tool \"quoted\" 'name' \x00 日本"),
        ChatMessage.system(
            "meta",
            metadata={
                "nested": {"list": [1, 2.5, -3e300, None, True, False, "é🙂\x00"]},
                "big": 2**62,
                "quote\"key'": "value\\",
                "empty": {},
                "lc": "a key named lc is fine",
            },
        ),
    ]
    snapshot = {"state": ODD_TEXTS, "n": [1, 2.25, None], "deep": {"a": [{"b": big[:1000]}]}}
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, TurnWrite(1, messages, 1.0, 0.0))
    await store.append_turn(lease, TurnWrite(2, messages[:2], 2.0, 0.0, snapshot))
    await store.append_turn(lease, TurnWrite(3, messages[-3:], 3.0, 0.0))

    _, loaded = await claim(store, k, "B")
    assert loaded is not None
    assert loaded.snapshot == snapshot
    assert loaded.messages == messages[-3:]
    assert loaded.messages[0].content == big
    assert await store.history(k) == [*messages, *messages[:2], *messages[-3:]]


async def test_what_json_cannot_hold_is_refused_before_writing(store: SessionStore) -> None:
    k = key()
    lease, _ = await claim(store, k, "A")
    nan = ChatMessage.user("x", metadata={"score": float("nan")})
    with pytest.raises(ValueError):
        await store.append_turn(lease, TurnWrite(1, [nan], 1.0, 0.0))
    with pytest.raises((ValueError, TypeError)):
        await store.append_turn(lease, turn(1, snapshot={"inf": float("inf")}))
    with pytest.raises(TypeError):
        await store.save_snapshot(lease, 0, {"object": object()})
    record = await store.get(k)
    assert record is not None and record.turn_count == 0
    assert await store.history(k) == []
    await store.append_turn(lease, turn(1))  # the lease is still good
    assert len(await store.history(k)) == 2


# -- schema 2: pending interrupts, usage, rich messages ------------------------------------------

ASK = Interrupt(id="i-1", value={"tool": "refund", "args": {"amount": 20}, "why": ["é", None]})


async def test_pending_interrupts_and_usage_ride_on_the_turn(store: SessionStore) -> None:
    """A turn's pending interrupts replace the record's; its usage adds to the totals; both in
    the turn's fenced write, and both back from get, list_sessions and a claim."""
    k = key()
    lease, _ = await claim(store, k, "A")
    first = TurnWrite(
        1,
        [ChatMessage.user("refund?")],
        1.0,
        0.1,
        None,
        [ASK],
        Usage(input_tokens=10, output_tokens=5),
    )
    await store.append_turn(lease, first)
    record = await store.get(k)
    assert record is not None
    assert (record.interrupts, record.input_tokens, record.output_tokens) == ([ASK], 10, 5)
    (listed_record,) = await store.list_sessions()
    assert listed_record == record and listed_record.corrupt is None

    _, loaded = await claim(store, k, "B")  # a takeover sees the question still pending
    assert loaded is not None and loaded.record.interrupts == [ASK]
    assert loaded.record.input_tokens == 10

    lease = Lease(k, 2, "B")
    await store.append_turn(lease, TurnWrite(2, [ChatMessage.user("yes")], 2.0, 0.1))
    record = await store.get(k)
    assert record is not None
    assert (record.interrupts, record.input_tokens, record.output_tokens) == ([], 10, 5)
    two = [Interrupt(id="a", value="x"), Interrupt(id="b")]
    await store.append_turn(
        lease, TurnWrite(3, [], 3.0, 0.1, None, two, Usage(input_tokens=1, output_tokens=2))
    )
    # A stale lease writes neither interrupts nor usage.
    with pytest.raises(LeaseLost):
        await store.append_turn(
            Lease(k, 1, "A"),
            TurnWrite(4, [], 4.0, 0.0, None, [ASK], Usage(input_tokens=9, output_tokens=9)),
        )
    record = await store.get(k)
    assert record is not None
    assert (record.interrupts, record.input_tokens, record.output_tokens) == (two, 11, 7)
    assert record.turn_count == 3


async def test_pending_interrupts_survive_a_restart(make_store: MakeStore) -> None:
    k = key()
    async with opened(make_store) as first:
        lease, _ = await claim(first, k, "A")
        write = TurnWrite(
            1, [ChatMessage.user("ask: refund?")], 1.0, 0.1, None, [ASK], Usage(input_tokens=3)
        )
        await first.append_turn(lease, write)
    async with opened(make_store) as second:
        _, loaded = await claim(second, k, "B")
        assert loaded is not None
        assert loaded.record.interrupts == [ASK] and loaded.record.input_tokens == 3
        assert [m.text for m in loaded.messages] == ["ask: refund?"]


async def test_rich_messages_round_trip(store: SessionStore) -> None:
    """Content blocks, tool calls and usage are kept (as an envelope in the metadata column);
    a plain message's row stays plain."""
    k = key()
    rich = [
        ChatMessage(role="user", content=[TextBlock(text="look "), ImageBlock(url="https://x")]),
        ChatMessage.assistant(
            "",
            tool_calls=[ToolCall(id="c1", name="order_status", args={"id": 7})],
            usage=Usage(input_tokens=4, output_tokens=2),
            metadata={"model": "m"},
        ),
        ChatMessage.tool("shipped", name="order_status", tool_call_id="c1"),
        ChatMessage(
            role="assistant",
            content=[ReasoningBlock(reasoning="hmm"), TextBlock(text="It shipped.")],
        ),
        ChatMessage.user("plain", metadata={"$sessionful": "a user's own key"}),
    ]
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, TurnWrite(1, rich, 1.0, 0.0))
    assert await store.history(k) == rich
    _, loaded = await claim(store, k, "B")
    assert loaded is not None and loaded.messages == rich


@pytest.mark.parametrize("kind", SQL_KINDS, indirect=True)
async def test_a_version_1_database_is_migrated_in_place(
    kind: str, make_store: MakeStore, raw: Raw
) -> None:
    """A database written by schema 1 opens, gains the new columns and tables with their
    defaults, keeps its sessions and their leases, and then takes every new field."""
    from sessionful.stores._postgres_schema import MIGRATIONS as PG
    from sessionful.stores._sqlite_schema import MIGRATIONS as LITE

    k = key()
    statements = (PG if kind == "postgres" else LITE)[1]
    raw.execute("CREATE TABLE sessionful_schema (version INTEGER NOT NULL)")
    for statement in statements:
        raw.execute(statement)
    raw.execute("INSERT INTO sessionful_schema (version) VALUES (1)")
    raw.execute(
        f"INSERT INTO {raw.sessions} (key, namespace, agent_id, session_id, template_id, "
        "template_version, created_at, last_activity, turn_count, message_count, "
        "response_time_sum, epoch, owner) "
        "VALUES (?, ?, ?, ?, 'echo', '1', 5.0, 6.0, 1, 2, 0.5, 3, 'A')",
        (str(k), k.namespace, k.agent_id, k.session_id),
    )
    content = (lambda t: json.dumps(t)) if kind == "postgres" else (lambda t: t)
    for seq, (role, text) in enumerate([("user", "q1"), ("assistant", "a1")]):
        raw.execute(
            f"INSERT INTO {raw.messages} (key, turn, seq, role, content, name, metadata) "
            "VALUES (?, 1, ?, ?, ?, NULL, '{}')",
            (str(k), seq, role, content(text)),
        )
    async with opened(make_store) as store:
        record = await store.get(k)
        assert record is not None
        assert (record.turn_count, record.message_count, record.epoch) == (1, 2, 3)
        assert (record.interrupts, record.input_tokens, record.user_id, record.labels) == (
            [],
            0,
            None,
            {},
        )
        assert (record.feedback_count, record.feedback_mean) == (0, None)
        await store.check(Lease(k, 3, "A"))  # the lease still holds
        lease, loaded = await claim(store, k, "B")
        assert loaded is not None and [m.text for m in loaded.messages] == ["q1", "a1"]
        await store.append_turn(
            lease, TurnWrite(2, [], 7.0, 0.1, None, [ASK], Usage(input_tokens=1, output_tokens=1))
        )
        await store.record_feedback(k, 4.0, "ok", 2, 8.0)
        await store.claim(
            key("new"), "B", "echo", "1", 9.0, user_id="u-1", labels={"channel": "web"}
        )
        assert (await store.list_sessions(labels={"channel": "web"}))[0].key == key("new")
    async with opened(make_store) as again:  # reopening migrates nothing more
        record = await again.get(k)
        assert record is not None and record.interrupts == [ASK]
        assert record.feedback_count == 1
    if kind == "sqlite":
        with closing(sqlite3.connect(raw.target)) as conn:
            versions = conn.execute("SELECT version FROM sessionful_schema").fetchall()
    else:
        import psycopg

        with psycopg.connect(raw.target) as pg:
            versions = pg.execute("SELECT version FROM sessionful_schema").fetchall()
    assert [v for (v,) in versions] == [1, 2]


# -- end users, labels, activity windows, feedback ------------------------------------------------


async def make(
    store: SessionStore,
    k: SessionKey,
    now: float,
    user_id: str | None = None,
    labels: dict[str, str] | None = None,
) -> Lease:
    lease, _ = await store.claim(k, "A", "echo", "1", now, user_id=user_id, labels=labels)
    return lease


async def test_user_id_and_labels_are_set_at_creation_only(store: SessionStore) -> None:
    k = key()
    await make(store, k, 1.0, "u-7", {"channel": "web", "tier": "gold", "é": "日本"})
    record = await store.get(k)
    assert record is not None and record.user_id == "u-7"
    assert record.labels == {"channel": "web", "tier": "gold", "é": "日本"}
    _, loaded = await store.claim(k, "B", "echo", "1", 2.0, user_id="u-8", labels={"x": "y"})
    assert loaded is not None and loaded.record.user_id == "u-7"  # a claim does not relabel
    assert loaded.record.labels == {"channel": "web", "tier": "gold", "é": "日本"}
    assert [r.key for r in await store.list_sessions(labels={"x": "y"})] == []
    assert [r.key for r in await store.list_sessions(user_id="u-8")] == []


async def test_labels_and_user_ids_no_store_can_hold_are_refused(store: SessionStore) -> None:
    for labels in ({"": "v"}, {"k": "nul\x00"}, {"k": 5}, {str(i): "v" for i in range(65)}):
        with pytest.raises(ValueError):
            await make(store, key(), 1.0, labels=labels)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await make(store, key(), 1.0, user_id="nul\x00")
    assert await store.get(key()) is None


@pytest.mark.parametrize(
    ("template_id", "template_version"), [("echo", None), (None, "1"), ("echo", "v\x00"), ("", 1)]
)
async def test_a_template_no_store_can_hold_is_refused(
    store: SessionStore, template_id: object, template_version: object
) -> None:
    """A clear ``ValueError`` in every store, not a driver's integrity error, and nothing made."""
    with pytest.raises(ValueError, match="template"):
        await store.claim(key(), "me", template_id, template_version, 1.0)  # type: ignore[arg-type]
    assert await store.get(key()) is None


FLEET = [
    # session, user, labels, last activity
    ("a", "u-1", {"channel": "web", "tier": "gold"}, 100.0),
    ("b", "u-1", {"channel": "sms"}, 200.0),
    ("c", "u-2", {"channel": "web"}, 300.0),
    ("d", None, {}, 400.0),
    ("e", "u-1", {"channel": "web", "tier": "free"}, 500.0),
    ("f", "u-2", {"channel": "web", "tier": "gold"}, 600.0),
]


async def test_list_sessions_filters_by_user_labels_and_activity(store: SessionStore) -> None:
    for session, user, labels, at in FLEET:
        await make(store, key(session), at, user, labels)
    await make(store, key("a", namespace="globex"), 100.0, "u-1", {"channel": "web"})

    async def keys(**filters: Any) -> list[str]:
        return [
            r.key.session_id or "" for r in await store.list_sessions(namespace="acme", **filters)
        ]

    assert await keys(user_id="u-1") == ["a", "b", "e"]
    assert await keys(user_id="nobody") == []
    assert await keys(labels={"channel": "web"}) == ["a", "c", "e", "f"]
    assert await keys(labels={"channel": "web", "tier": "gold"}) == ["a", "f"]  # all must match
    assert await keys(labels={"channel": "web", "tier": "none"}) == []
    assert await keys(labels={"tier": "gold"}, user_id="u-2") == ["f"]
    assert await keys(active_after=300.0) == ["c", "d", "e", "f"]  # inclusive
    assert await keys(active_before=300.0) == ["a", "b"]  # exclusive
    assert await keys(active_after=200.0, active_before=500.0) == ["b", "c", "d"]
    assert await keys(active_after=200.0, labels={"channel": "web"}, user_id="u-1") == ["e"]
    assert len(await store.list_sessions(user_id="u-1")) == 4  # every namespace
    # Keyset paging with filters.
    paged: list[str] = []
    after: str | None = None
    while page := await store.list_sessions(
        namespace="acme", labels={"channel": "web"}, after=after, limit=1
    ):
        paged += [r.key.session_id or "" for r in page]
        after = str(page[-1].key)
    assert paged == ["a", "c", "e", "f"]
    # A claim is activity: the window follows it.
    await store.claim(key("a"), "B", "echo", "1", 1_000.0)
    assert await keys(active_after=900.0) == ["a"]


async def test_feedback_is_kept_with_the_session(store: SessionStore) -> None:
    k = key()
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1))
    await store.record_feedback(k, 5, "great 🙂 \x00", 1, 10.0)
    await store.record_feedback(k, 2.5, None, None, 11.0)
    await store.record_feedback(k, 1.0, at=12.0)
    assert await store.feedback(k) == [
        Feedback(5.0, "great 🙂 \x00", 1, 10.0),
        Feedback(2.5, None, None, 11.0),
        Feedback(1.0, None, None, 12.0),
    ]
    record = await store.get(k)
    assert record is not None
    assert record.feedback_count == 3
    assert record.feedback_mean is not None and abs(record.feedback_mean - 8.5 / 3) < 1e-9
    assert record.turn_count == 1 and record.epoch == 1  # feedback does not advance a session
    await store.append_turn(lease, turn(2))  # nor fence it
    (listed_record,) = await store.list_sessions()
    assert listed_record.feedback_count == 3
    _, loaded = await claim(store, k, "B")
    assert loaded is not None and loaded.record.feedback_count == 3

    for bad in (float("nan"), float("inf"), "5", True):
        with pytest.raises(ValueError):
            await store.record_feedback(k, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await store.record_feedback(k, 1.0, turn=-1)
    with pytest.raises(SessionNotFound):
        await store.record_feedback(key("nobody"), 5.0)
    assert await store.get(key("nobody")) is None

    assert await store.delete(k) == {"sessions": 1, "messages": 4, "snapshots": 0, "feedback": 3}
    assert await store.feedback(k) == []
    with pytest.raises(SessionNotFound):
        await store.record_feedback(k, 5.0)
    await claim(store, k, "C")  # created again: nothing carried over
    record = await store.get(k)
    assert record is not None and (record.feedback_count, record.feedback_mean) == (0, None)


async def test_purged_sessions_leave_no_labels_or_feedback_behind(store: SessionStore) -> None:
    k = key()
    await make(store, k, 1.0, "u-1", {"channel": "web"})
    await store.record_feedback(k, 4.0, "ok", None, 2.0)
    assert await store.purge_idle(10.0, 10) == [k]
    assert await store.feedback(k) == []
    await make(store, k, 20.0)  # the same id, a new session
    assert await store.list_sessions(labels={"channel": "web"}) == []
    record = await store.get(k)
    assert record is not None
    assert (record.user_id, record.labels, record.feedback_count) == (None, {}, 0)


# -- a model of claims and writes by several owners ----------------------------------------------

OWNERS = ["A", "B", "C"]
WHO = st.sampled_from(["A", "A", "A", "B", "B", "C"])  # A most often, so its leases go stale
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), WHO),
        st.tuples(
            st.just("append"),
            WHO,
            st.sampled_from([0, 0, 0, 0, -1, 1]),  # turn number offset from the right one
            st.integers(0, 3),  # messages
            st.booleans(),  # with a snapshot
        ),
        st.tuples(
            st.just("append"), WHO, st.just(0), st.integers(1, 2), st.just(False)
        ),  # the common case, twice as likely
        st.tuples(st.just("snapshot"), WHO, st.sampled_from([0, 0, -1, 1])),
        st.tuples(st.just("check"), WHO),
    ),
    min_size=4,
    max_size=30,
).map(lambda ops: [("claim", "A"), *ops])  # someone holds the session from the start


class Model:
    """What a correct store holds: writes land only with the current epoch and the next turn."""

    def __init__(self) -> None:
        self.epoch = 0
        self.turns = 0
        self.log: list[tuple[int, str]] = []
        self.snapshot: dict[str, Any] | None = None
        self.snapshot_turn = 0


def test_random_claims_and_writes_agree_with_a_model(kind: str, make_store: MakeStore) -> None:
    loop = asyncio.new_event_loop()
    stores = {owner: make_store() for owner in OWNERS}
    try:
        for s in stores.values():
            loop.run_until_complete(s.open())

        @settings(
            max_examples=60 if kind == "memory" else 30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(ops=OPS)
        def run(ops: list[tuple[Any, ...]]) -> None:
            loop.run_until_complete(play(stores, ops))

        run()
    finally:
        for s in stores.values():
            loop.run_until_complete(s.aclose())
        loop.close()


async def play(stores: dict[str, SessionStore], ops: list[tuple[Any, ...]]) -> None:
    k = SessionKey("model", uuid.uuid4().hex)
    model = Model()
    leases: dict[str, Lease] = {}
    clock = 0.0
    for op in ops:
        name, owner = op[0], op[1]
        store = stores[owner]
        clock += 1.0
        if name == "claim":
            lease, loaded = await claim(store, k, owner, now=clock)
            model.epoch += 1
            assert lease.epoch == model.epoch
            leases[owner] = lease
            if model.epoch == 1:
                assert loaded is None
            else:
                assert loaded is not None
                assert loaded.record.turn_count == model.turns
                assert loaded.snapshot == model.snapshot
                assert loaded.snapshot_turn == model.snapshot_turn
                expected = [text for t, text in model.log if t > model.snapshot_turn]
                assert [m.content for m in loaded.messages] == expected
            continue
        lease = leases.get(owner)
        if lease is None:
            continue
        current = lease.epoch == model.epoch
        if name == "check":
            if current:
                await store.check(lease)
            else:
                with pytest.raises(LeaseLost):
                    await store.check(lease)
        elif name == "append":
            _, _, offset, count, with_snapshot = op
            number = model.turns + 1 + offset
            texts = [f"{owner}:{number}:{i}:{clock}" for i in range(count)]
            snapshot = {"by": owner, "turn": number} if with_snapshot else None
            write = TurnWrite(number, [ChatMessage.user(t) for t in texts], clock, 0.0, snapshot)
            if current and offset == 0:
                await store.append_turn(lease, write)
                model.turns = number
                model.log += [(number, t) for t in texts]
                if snapshot is not None:
                    model.snapshot, model.snapshot_turn = snapshot, number
            else:
                with pytest.raises(LeaseLost):
                    await store.append_turn(lease, write)
        else:  # snapshot
            number = model.turns + op[2]
            snapshot = {"saved_by": owner, "turn": number}
            if current and op[2] == 0:
                await store.save_snapshot(lease, number, snapshot)
                model.snapshot, model.snapshot_turn = snapshot, number
            else:
                with pytest.raises(LeaseLost):
                    await store.save_snapshot(lease, number, snapshot)
    assert [m.content for m in await stores["A"].history(k)] == [t for _, t in model.log]
    record = await stores["B"].get(k)
    if model.epoch:
        assert record is not None
        assert (record.epoch, record.turn_count, record.message_count) == (
            model.epoch,
            model.turns,
            len(model.log),
        )
    await stores["C"].delete(k)


# -- poisoned rows -------------------------------------------------------------------------------


def gadget(path: Path) -> bytes:
    """A protocol-0 pickle that, if anything unpickled it, would create ``path`` (it calls
    ``builtins.open(path, "w")``). Written by hand: the tests import no pickle module."""
    return b"cbuiltins\nopen\n(V" + str(path).encode() + b"\nVw\ntR."


def test_the_gadget_is_live(tmp_path: Path) -> None:
    """Proof that the poison below would act if unpickled: a throwaway child process does."""
    proof = tmp_path / "proof"
    subprocess.run(
        [sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
        input=gadget(proof),
        check=True,
        timeout=60,
    )
    assert proof.exists()


ENVELOPE = {
    "lc": 1,
    "type": "constructor",
    "id": ["langchain_core", "messages", "HumanMessage"],
    "kwargs": {"content": "hello"},
}
POISONS = [
    # (name, column, value); "GADGET" is replaced by the pickle gadget
    ("pickle-in-metadata", "metadata", "GADGET"),
    ("pickle-in-snapshot", "snapshot", "GADGET"),
    ("text-in-metadata", "metadata", "not JSON at all {"),
    ("text-in-snapshot", "snapshot", "{'python': 'repr', 'is': None}"),
    ("lc-envelope-in-metadata", "metadata", json.dumps({"extra": [ENVELOPE]})),
    ("lc-envelope-in-snapshot", "snapshot", json.dumps({"messages": [{"deep": ENVELOPE}]})),
    ("lc-secret-in-snapshot", "snapshot", json.dumps({"k": {"lc": 1, "type": "secret"}})),
    ("list-as-snapshot", "snapshot", "[1, 2, 3]"),
    ("list-as-metadata", "metadata", "[1, 2, 3]"),
    ("unknown-role", "role", "root"),
]


@pytest.mark.parametrize(("poison", "column", "value"), POISONS, ids=[p[0] for p in POISONS])
async def test_a_poisoned_row_is_refused_on_load_and_runs_nothing(
    kind: str,
    store: SessionStore,
    raw: Raw,
    tmp_path: Path,
    poison: str,
    column: str,
    value: str,
) -> None:
    k = key()
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1))
    marker = tmp_path / "pwned"
    if value == "GADGET":
        blob = gadget(marker)
        # SQLite keeps the bytes as a BLOB; PostgreSQL text holds the (ASCII) pickle as text.
        poisoned: Any = blob if kind != "postgres" else blob.decode()
    else:
        poisoned = value
    if kind == "memory":
        assert isinstance(store, MemoryStore)
        row = store._rows[k]
        if column == "snapshot":
            row.snapshot = poisoned
        else:
            t, (role, content, name, meta) = row.log[1]
            fields: dict[str, Any] = {
                "role": role,
                "content": content,
                "name": name,
                "metadata": meta,
            }
            fields[column] = poisoned
            row.log[1] = (
                t,
                (fields["role"], fields["content"], fields["name"], fields["metadata"]),
            )
    elif column == "snapshot":
        raw.execute(f"UPDATE {raw.sessions} SET snapshot = ? WHERE key = ?", (poisoned, str(k)))
    else:
        raw.execute(
            f"UPDATE {raw.messages} SET {column} = ? WHERE key = ? AND turn = 1 AND seq = 1",
            (poisoned, str(k)),
        )

    with pytest.raises(CorruptSessionData) as info:
        await claim(store, k, "B")
    assert info.value.key == k
    if column != "snapshot":
        with pytest.raises(CorruptSessionData):
            await store.history(k)
    assert not marker.exists(), "the poisoned row was executed"
    # The refusal is per session: the others load, and the poisoned one can still be deleted.
    other, _ = await claim(store, key("s2"), "A")
    await store.append_turn(other, turn(1))
    _, loaded = await claim(store, key("s2"), "B")
    assert loaded is not None and len(loaded.messages) == 2
    assert (await store.delete(k))["sessions"] == 1


# -- damage stays with its session ---------------------------------------------------------------


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` levels of JSON objects around ``leaf``, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000
JUST_TOO_DEEP = json.dumps(nested(MAX_JSON_DEPTH + 1))
# (name, column, value, the kinds whose columns can hold it). The record's columns; "metadata"
# is the second logged message's.
ANY_KIND = ("memory", "sqlite", "postgres")
LOOSE = ("memory", "sqlite")  # SQLite's columns hold any type, as the memory store's fields do
DAMAGE = [
    ("created_at-text", "created_at", "yesterday", LOOSE),
    ("created_at-inf", "created_at", float("inf"), ANY_KIND),
    ("created_at-nan", "created_at", float("nan"), ("memory", "postgres")),
    ("last_activity-text", "last_activity", "now", LOOSE),
    ("epoch-text", "epoch", "x", LOOSE),
    ("epoch-negative", "epoch", -1, ANY_KIND),
    ("epoch-real", "epoch", 1.5, LOOSE),
    ("turn_count-negative", "turn_count", -1, ANY_KIND),
    ("turn_count-text", "turn_count", "many", LOOSE),
    ("message_count-negative", "message_count", -3, ANY_KIND),
    ("response_time_sum-negative", "response_time_sum", -5.0, ANY_KIND),
    ("template_id-bytes", "template_id", b"echo", LOOSE),  # a TEXT column turns 5 into "5"
    ("snapshot_turn-past-the-turns", "snapshot_turn", 99, ANY_KIND),
    ("snapshot_turn-negative", "snapshot_turn", -1, ANY_KIND),
    ("snapshot-100000-deep", "snapshot", DEEP, ANY_KIND),
    ("snapshot-just-too-deep", "snapshot", JUST_TOO_DEEP, ANY_KIND),
    ("metadata-100000-deep", "metadata", DEEP_OBJECT, ANY_KIND),
    ("interrupts-100000-deep", "interrupts", DEEP, ANY_KIND),
    ("interrupts-not-json", "interrupts", "ask me", ANY_KIND),
    ("interrupts-an-object", "interrupts", '{"id": "i"}', ANY_KIND),
    ("interrupts-without-id", "interrupts", '[{"value": 1}]', ANY_KIND),
    ("input_tokens-negative", "input_tokens", -1, ANY_KIND),
    ("user_id-bytes", "user_id", b"u-7", LOOSE),
    ("labels-a-list", "labels", "[1]", ANY_KIND),
    ("labels-not-strings", "labels", '{"n": 1}', ANY_KIND),
    ("feedback_count-negative", "feedback_count", -1, ANY_KIND),
    ("feedback_sum-text", "feedback_sum", "lots", LOOSE),
]
DAMAGE_CASES = [
    pytest.param(kind, column, value, id=f"{kind}-{name}")
    for name, column, value, kinds in DAMAGE
    for kind in kinds
]


def damage(
    kind: str, store: SessionStore, raw: Raw, k: SessionKey, column: str, value: Any
) -> None:
    """Write ``value`` into ``k``'s ``column`` behind the store's back."""
    if kind == "memory":
        assert isinstance(store, MemoryStore)
        row = store._rows[k]
        if column == "metadata":
            t, (role, content, name, _) = row.log[1]
            row.log[1] = (t, (role, content, name, value))
        else:
            setattr(row, column, value)
    elif column == "metadata":
        raw.execute(
            f"UPDATE {raw.messages} SET metadata = ? WHERE key = ? AND turn = 1 AND seq = 1",
            (value, str(k)),
        )
    else:
        raw.execute(f"UPDATE {raw.sessions} SET {column} = ? WHERE key = ?", (value, str(k)))


@pytest.mark.parametrize(("kind", "column", "value"), DAMAGE_CASES, indirect=["kind"])
async def test_a_damaged_session_is_refused_alone(
    kind: str, store: SessionStore, raw: Raw, column: str, value: Any
) -> None:
    """A damaged row raises CorruptSessionData naming its session, never a RecursionError or a
    validation error; the tenant's listing still lists the others and flags it; other sessions
    are created and claimed; deleting the damaged one removes it."""
    k, neighbour = key("s1"), key("s2")
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1))
    other, _ = await claim(store, neighbour, "A")
    await store.append_turn(other, turn(1))
    damage(kind, store, raw, k, column, value)

    with pytest.raises(CorruptSessionData) as info:
        await claim(store, k, "B")
    assert info.value.key == k
    with pytest.raises(CorruptSessionData):
        await store.claim(k, "B", "echo", "1", 2_000.0, create=False)
    if column == "metadata":
        with pytest.raises(CorruptSessionData):
            await store.history(k)
    elif column != "snapshot" and column != "snapshot_turn":
        with pytest.raises(CorruptSessionData) as info:
            await store.get(k)
        assert info.value.key == k

    if column not in ("metadata", "snapshot", "snapshot_turn"):  # the record itself is damaged
        listing = await store.list_sessions(namespace="acme")
        assert [r.key for r in listing] == [k, neighbour]
        assert listing[0].corrupt and listing[1].corrupt is None
        assert listing[1].turn_count == 1
        assert [r.key for r in await store.list_sessions(namespace="acme", limit=1)] == [k]
    assert await store.count_sessions("acme") == 2

    _, loaded = await claim(store, neighbour, "B")
    assert loaded is not None and len(loaded.messages) == 2
    created, none = await claim(store, key("s3"), "A")
    assert none is None and created.epoch == 1

    assert (await store.delete(k))["sessions"] == 1
    assert await store.get(k) is None
    assert all(r.corrupt is None for r in await store.list_sessions())
    again, fresh = await claim(store, k, "C")  # the id can be used again
    assert fresh is None and again.epoch == 1


async def test_json_nested_too_deep_is_refused_before_writing(store: SessionStore) -> None:
    k = key()
    lease, _ = await claim(store, k, "A")
    deep = nested(MAX_JSON_DEPTH + 5)
    with pytest.raises(ValueError):
        await store.append_turn(lease, TurnWrite(1, [ChatMessage.user("x", metadata=deep)], 1, 0))
    with pytest.raises(ValueError):
        await store.append_turn(lease, turn(1, snapshot=deep))
    with pytest.raises(ValueError):
        await store.save_snapshot(lease, 0, nested(100_000))  # no RecursionError either
    with pytest.raises(ValueError):
        ask = Interrupt(id="i", value=deep)
        await store.append_turn(lease, TurnWrite(1, [], 1.0, 0.0, None, [ask]))
    record = await store.get(k)
    assert record is not None and record.turn_count == 0
    # As deep as allowed round-trips.
    snapshot = nested(MAX_JSON_DEPTH - 1)
    meta = nested(MAX_JSON_DEPTH - 1)
    await store.append_turn(
        lease, TurnWrite(1, [ChatMessage.user("x", metadata=meta)], 1.0, 0.0, snapshot)
    )
    _, loaded = await claim(store, k, "B")
    assert loaded is not None and loaded.snapshot == snapshot
    assert (await store.history(k))[0].metadata == meta


async def test_claim_without_create_refuses_a_missing_session(store: SessionStore) -> None:
    k = key()
    with pytest.raises(SessionNotFound) as info:
        await store.claim(k, "A", "echo", "1", 1.0, create=False)
    assert info.value.session_id == k.session_id
    assert await store.get(k) is None and await store.list_sessions() == []

    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1))
    lease_b, loaded = await store.claim(k, "B", "echo", "1", 2_000.0, create=False)
    assert lease_b == Lease(k, 2, "B")
    assert loaded is not None and [m.text for m in loaded.messages] == ["q1", "a1"]
    assert loaded.record.owner == "B" and loaded.record.epoch == 2
    with pytest.raises(LeaseLost):
        await store.check(lease)

    await store.delete(k)  # ended: it stays ended
    with pytest.raises(SessionNotFound):
        await store.claim(k, "C", "echo", "1", 3_000.0, create=False)
    assert await store.get(k) is None


async def test_count_sessions_counts_without_loading(store: SessionStore) -> None:
    for i, k in enumerate(LISTED):
        await claim(store, k, "A", now=1_000.0 + i)
    assert await store.count_sessions() == len(LISTED)
    assert await store.count_sessions("acme") == sum(k.namespace == "acme" for k in LISTED)
    assert await store.count_sessions("initech") == 0
    bots = sum(k.namespace == "acme" and k.agent_id == "bot" for k in LISTED)
    assert await store.count_sessions("acme", agent_id="bot") == bots
    await store.delete(LISTED[0])
    assert await store.count_sessions() == len(LISTED) - 1


async def test_purge_idle_spares_the_excluded(store: SessionStore) -> None:
    keys = [key(f"s{i}") for i in range(5)]
    for i, k in enumerate(keys):
        await claim(store, k, "A", now=float(i))
    # s0 and s2 have a turn in flight here: never purged, and the batch fills with others.
    assert await store.purge_idle(100.0, 2, exclude={keys[0], keys[2]}) == [keys[1], keys[3]]
    assert await store.purge_idle(100.0, 5, exclude=[keys[0], keys[2]]) == [keys[4]]
    assert await store.purge_idle(100.0, 5, exclude=[keys[2], key("unknown")]) == [keys[0]]
    assert await store.purge_idle(100.0, 5) == [keys[2]]


@pytest.mark.parametrize("kind", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("created_at", "yesterday"),
        ("snapshot_turn", "x"),
        ("turn_count", "many"),
        ("epoch", "1.5x"),
    ],
)
async def test_sqlite_record_columns_of_the_wrong_type_are_refused(
    store: SessionStore, raw: Raw, column: str, value: Any
) -> None:
    """SQLite's columns hold any type; a record column that is not what we wrote is refused."""
    k = key()
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1))
    raw.execute(f"UPDATE sessions SET {column} = ? WHERE key = ?", (value, str(k)))
    with pytest.raises(CorruptSessionData):
        await claim(store, k, "B")


@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
async def test_postgres_content_that_is_not_a_json_string_is_refused(
    store: SessionStore, raw: Raw, tmp_path: Path
) -> None:
    k = key()
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1))
    marker = tmp_path / "pwned"
    for bad in (gadget(marker).decode(), '{"not": "a string"}', "unquoted"):
        raw.execute(
            f"UPDATE {raw.messages} SET content = ? WHERE key = ? AND seq = 0", (bad, str(k))
        )
        with pytest.raises(CorruptSessionData):
            await claim(store, k, "B")
    raw.execute(f"UPDATE {raw.messages} SET name = ? WHERE key = ? AND seq = 0", ("7", str(k)))
    raw.execute(
        f"UPDATE {raw.messages} SET content = ? WHERE key = ? AND seq = 0", ('"ok"', str(k))
    )
    with pytest.raises(CorruptSessionData):
        await store.history(k)
    assert not marker.exists()


# -- schema --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SQL_KINDS, indirect=True)
async def test_a_newer_schema_is_refused_with_a_clear_error(
    make_store: MakeStore, raw: Raw
) -> None:
    async with opened(make_store) as store:
        await claim(store, key(), "A")
    raw.execute("INSERT INTO sessionful_schema (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    for _ in range(2):  # a failed open leaves nothing half-open behind
        store = make_store()
        with pytest.raises(SchemaTooNew) as info:
            await store.open()
        assert (info.value.found, info.value.supported) == (SCHEMA_VERSION + 1, SCHEMA_VERSION)
        assert f"schema version {SCHEMA_VERSION + 1}" in str(info.value)
        assert "Upgrade sessionful" in str(info.value)
        await store.aclose()


@pytest.mark.parametrize("kind", SQL_KINDS, indirect=True)
async def test_opening_twice_and_concurrently_is_idempotent(
    make_store: MakeStore, kind: str, target: Any
) -> None:
    stores = [make_store() for _ in range(5)]
    try:
        await asyncio.gather(*(s.open() for s in stores), stores[0].open(), stores[0].open())
        await stores[0].open()
        lease, _ = await claim(stores[1], key(), "A")
        await stores[2].append_turn(lease, turn(1))
        assert len(await stores[3].history(key())) == 2
    finally:
        for s in stores:
            await s.aclose()
    async with opened(make_store) as again:  # reopening migrates nothing and loses nothing
        assert len(await again.history(key())) == 2
    if kind == "sqlite":
        with closing(sqlite3.connect(target)) as conn:
            versions = conn.execute("SELECT version FROM sessionful_schema").fetchall()
    else:
        import psycopg

        with psycopg.connect(target) as conn:
            versions = conn.execute("SELECT version FROM sessionful_schema").fetchall()
    assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))


async def test_a_closed_store_reopens_on_use(store: SessionStore) -> None:
    lease, _ = await claim(store, key(), "A")
    await store.aclose()
    await store.aclose()
    await store.append_turn(lease, turn(1))
    assert len(await store.history(key())) == 2


# -- the postgres store's own surface ------------------------------------------------------------


def test_postgres_urls() -> None:
    store = PostgresStore.from_url(
        "postgresql://app:secret@db.example:6543/sessions?min_size=2&max_size=7&retry=2.5"
        "&sslmode=disable&options=-csearch_path%3Dmine"
    )
    assert (store.min_size, store.max_size, store.retry) == (2, 7, 2.5)
    assert "min_size" not in store.conninfo and "retry" not in store.conninfo
    assert "sslmode=disable" in store.conninfo and "search_path%3Dmine" in store.conninfo
    assert "secret" not in repr(store) and "db.example:6543/sessions" in repr(store)
    assert PostgresStore.from_url("postgres://localhost/x").max_size == 10
    assert store.name == "postgresql"
    for bad in (
        "postgresql://h/db?max_size=many",
        "postgresql://h/db?retry=soon",
        "postgresql://h/db?min_size=5&max_size=2",
        "postgresql://h/db?max_size=0",
        "mysql://h/db",
    ):
        with pytest.raises(ConfigurationError):
            PostgresStore.from_url(bad)


def test_postgres_is_registered_under_both_schemes() -> None:
    stores = Plugins(load_entry_points=False).get_stores()
    assert stores["postgresql"] is PostgresStore and stores["postgres"] is PostgresStore
    assert stores["sqlite"] is SQLiteStore and stores["memory"] is MemoryStore


def test_importing_sessionful_does_not_import_psycopg() -> None:
    code = (
        "import sys, sessionful, sessionful.stores\n"
        "from sessionful._plugins import Plugins\n"
        "assert 'postgresql' in Plugins(load_entry_points=False).get_stores()\n"
        "assert not [m for m in sys.modules if m.startswith('psycopg')], sys.modules.keys()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_psycopg_building_the_store_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r"pip install 'sessionful\[postgres\]'"):
        PostgresStore.from_url("postgresql://localhost/db")


async def test_an_unreachable_server_raises_store_unavailable_after_the_retry() -> None:
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=2", retry=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StoreUnavailable, match="stayed unavailable"):
        await store.open()
    assert loop.time() - started < 10
    await store.aclose()


@pytest.mark.parametrize("kind", ["postgres"], indirect=True)
async def test_postgres_recovers_from_a_killed_connection(store: SessionStore) -> None:
    """The server ends our connections (as a restart would): the next operations retry on
    fresh ones; an append retried after an unknown outcome does not double-apply."""
    assert isinstance(store, PostgresStore)
    import psycopg

    k = key()
    lease, _ = await claim(store, k, "A")
    await store.append_turn(lease, turn(1))
    with psycopg.connect(store.conninfo, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    await store.append_turn(lease, turn(2))
    assert [m.content for m in await store.history(k)] == ["q1", "a1", "q2", "a2"]
    record = await store.get(k)
    assert record is not None and record.turn_count == 2


# -- no unpickling anywhere ----------------------------------------------------------------------

BANNED = {"pickle", "cPickle", "_pickle", "dill", "marshal", "shelve", "cloudpickle", "jsonpickle"}


def banned_uses(source: str) -> list[str]:
    """Imports of, names of, and modules named by string for, the unpickling modules."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in BANNED]
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in BANNED:
                found.append(f"from {node.module}")
            found += [a.name for a in node.names if a.name in BANNED]
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string in BANNED:
            found.append(f"name {token.string} at line {token.start[0]}")
        if token.type == tokenize.STRING:
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, str) and value.split(".")[0] in BANNED:
                found.append(f"string {token.string} at line {token.start[0]}")
    return found


def source_files() -> Iterator[Path]:
    yield from sorted((REPO / "core" / "src").rglob("*.py"))
    for src in sorted((REPO / "adapters").glob("*/src")):
        yield from sorted(src.rglob("*.py"))


def test_the_scanner_sees_each_way_in() -> None:
    for snippet in (
        "import pickle",
        "import dill as d",
        "from marshal import loads",
        "import shelve.x",
        "from somewhere import cPickle",
        "x = pickle.loads(b'')",
        "importlib.import_module('dill')",
        '__import__("pickle")',
    ):
        assert banned_uses(snippet), snippet
    assert banned_uses('"""nothing is ever unpickled, pickle_fallback=False"""') == []


def test_no_source_imports_an_unpickling_module() -> None:
    files = list(source_files())
    assert any(p.name == "postgres.py" for p in files) and len(files) > 20
    offenders = {
        str(p.relative_to(REPO)): uses
        for p in files
        if (uses := banned_uses(p.read_text(encoding="utf-8")))
    }
    assert offenders == {}
