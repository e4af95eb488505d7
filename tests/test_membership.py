"""Cluster membership: registration and heartbeats in PostgreSQL, the live set, owners, and the
service's affinity accounting and owner header.

The PostgreSQL tests need the ``postgres_dsn`` fixture's server (run them under
``scripts/with-postgres.sh``); without one they skip, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sessionful import ConfigurationError
from sessionful.service.affinity import owner_of
from sessionful.service.config import ClusterConfig, Settings
from sessionful.service.http import NODE_HEADER, OWNER_HEADER, create_app, membership_for
from sessionful.service.membership import NODES_TABLE, LocalMembership, Membership

KEY = "alice-key-0123456789abcdef"
FAST = {"heartbeat_interval": 0.2, "node_ttl": 0.6}


def _rows(dsn: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return dict(conn.execute(f"SELECT node_id, address FROM {NODES_TABLE}").fetchall())


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def _die(member: Membership) -> None:
    """Stop ``member``'s heartbeats without deregistering, as a SIGKILL would."""
    task, member._task = member._task, None
    assert task is not None
    while not task.done():  # wait_for (Python < 3.12) may swallow one cancellation
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)


@contextlib.asynccontextmanager
async def _members(dsn: str, *names: str, **options: Any) -> AsyncIterator[list[Membership]]:
    members = [Membership(dsn, name, f"addr-of-{name}", **{**FAST, **options}) for name in names]
    async with contextlib.AsyncExitStack() as stack:
        for member in members:
            await stack.enter_async_context(member)
        yield members


# -- without a database ---------------------------------------------------------------------------


async def test_a_single_instance_owns_everything() -> None:
    async with LocalMembership("solo", "127.0.0.1:8000") as alone:
        assert alone.live() == {"solo": "127.0.0.1:8000"}
        assert alone.owner("any-session") == "solo"
        assert alone.owns("another")
        assert alone.address_of("solo") == "127.0.0.1:8000"


def test_cluster_settings_are_checked() -> None:
    assert ClusterConfig().heartbeat_interval == 2.0
    assert ClusterConfig().node_ttl == 6.0
    assert ClusterConfig().owner_header is True
    with pytest.raises(ValueError, match="node_ttl must be more than heartbeat_interval"):
        ClusterConfig(heartbeat_interval=2.0, node_ttl=2.0)
    with pytest.raises(ConfigurationError, match="node_ttl"):
        Membership("postgresql://localhost/x", "a", heartbeat_interval=1.0, node_ttl=0.5)


def test_any_store_but_postgres_makes_a_membership_of_one(tmp_path: Any) -> None:
    settings = Settings.model_validate(
        {
            "store": f"sqlite:///{tmp_path / 's.db'}",
            "agents": [{"id": "echo", "framework": "stub", "template_id": "echo"}],
            "server": {"host": "127.0.0.1", "port": 8123},
            "cluster": {"advertise_address": "10.1.2.3:8123"},
        }
    )
    app = create_app(settings)
    membership = app.state.membership
    assert type(membership) is LocalMembership
    assert membership.node_id == "10.1.2.3:8123"
    assert membership.address == "10.1.2.3:8123"
    default = membership_for(
        Settings.model_validate({"store": "memory://", "server": {"port": 8124}}), app.state.service
    )
    assert default.address == "127.0.0.1:8124"
    assert default.node_id.endswith(":8124")


# -- on PostgreSQL ---------------------------------------------------------------------------------


async def test_members_see_each_other_and_agree_on_owners(postgres_dsn: str) -> None:
    async with _members(postgres_dsn, "a", "b", "c") as members:
        everyone = {"a": "addr-of-a", "b": "addr-of-b", "c": "addr-of-c"}
        # The first to start read the set before the others joined; heartbeats re-read it.
        for member in members:
            await _until(lambda member=member: member.live() == everyone)  # type: ignore[misc]
        assert _rows(postgres_dsn) == everyone
        keys = [f"session-{i}" for i in range(300)]
        owners = [members[0].owner(key) for key in keys]
        for member in members[1:]:
            assert [member.owner(key) for key in keys] == owners
        assert owners == [owner_of(key, everyone) for key in keys]
        assert set(owners) == set(everyone)  # each owns a share
        for member in members:
            assert sum(member.owns(key) for key in keys) == owners.count(member.node_id)
            assert member.address_of("b") == "addr-of-b"


async def test_a_node_that_stops_heartbeating_drops_out_after_the_ttl(postgres_dsn: str) -> None:
    async with _members(postgres_dsn, "a", "b") as (a, b):
        await _until(lambda: set(a.live()) == {"a", "b"})
        # b "dies": its heartbeats stop and it never deregisters (as after a SIGKILL).
        await _die(b)
        died = time.monotonic()
        await _until(lambda: set(a.live()) == {"a"}, timeout=3.0)
        gone_after = time.monotonic() - died
        assert gone_after <= 0.6 + 2 * 0.2 + 0.5, gone_after
        assert "b" in _rows(postgres_dsn)  # its row stays (until purged); it is not live
        assert all(a.owns(f"s{i}") for i in range(50))
        # b comes back: one heartbeat and it is live again.
        await b.heartbeat()
        await _until(lambda: set(a.live()) == {"a", "b"}, timeout=3.0)


async def test_a_clean_stop_deletes_the_row(postgres_dsn: str) -> None:
    async with _members(postgres_dsn, "a") as (a,):
        b = Membership(postgres_dsn, "b", "addr-b", **FAST)
        await b.start()
        assert set(_rows(postgres_dsn)) == {"a", "b"}
        await b.stop()
        assert set(_rows(postgres_dsn)) == {"a"}
        assert b.live() == {"b": "addr-b"}  # stopped: alone again
        assert set(await a.refresh()) == {"a"}  # gone at once, no ttl to wait for
        await b.stop()  # idempotent
    assert _rows(postgres_dsn) == {}


async def test_a_restarted_node_replaces_its_row(postgres_dsn: str) -> None:
    async with _members(postgres_dsn, "a"):
        old = Membership(postgres_dsn, "b", "old-address", **FAST)
        await old.start()
        new = Membership(postgres_dsn, "b", "new-address", **FAST)
        await new.start()  # the same node id, before the old one's row expired
        assert _rows(postgres_dsn)["b"] == "new-address"
        await _die(old)  # the old process is gone without cleaning up
        await old._drop_connection()
        old._started_at = None
        await new.stop()
        assert "b" not in _rows(postgres_dsn)


async def test_an_unreachable_database_fails_start() -> None:
    member = Membership(
        "postgresql://postgres@127.0.0.1:1/nothing", "a", heartbeat_interval=0.1, node_ttl=0.3
    )
    with pytest.raises(Exception, match="could not register"):
        await member.start()


# -- the service -----------------------------------------------------------------------------------


def _metric(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"no {name} in /metrics")


def _settings(dsn: str, **cluster: Any) -> Settings:
    return Settings.model_validate(
        {
            "store": dsn,
            "agents": [{"id": "echo", "framework": "stub", "template_id": "echo"}],
            "auth": {"api_keys": {KEY: "alice"}},
            "cluster": {
                "node_id": "node-a",
                "advertise_address": "10.0.0.1:8001",
                "heartbeat_interval": 1.0,
                "node_ttl": 30.0,
                **cluster,
            },
        }
    )


def _add_node(dsn: str, node_id: str, address: str) -> None:
    """A row as another live instance would have written it."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {NODES_TABLE} (node_id TEXT PRIMARY KEY,
            address TEXT NOT NULL, started_at TIMESTAMPTZ NOT NULL,
            heartbeat_at TIMESTAMPTZ NOT NULL)"""
        )
        conn.execute(f"INSERT INTO {NODES_TABLE} VALUES (%s, %s, now(), now())", (node_id, address))


async def test_the_service_names_the_owner_and_counts_misses(postgres_dsn: str) -> None:
    _add_node(postgres_dsn, "node-b", "10.0.0.2:8002")
    app = create_app(_settings(postgres_dsn))
    membership = app.state.membership
    assert isinstance(membership, Membership)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://in-process", headers={"X-API-Key": KEY}
        ) as client,
    ):
        assert set(membership.live()) == {"node-a", "node-b"}
        addresses = {"node-a": "10.0.0.1:8001", "node-b": "10.0.0.2:8002"}
        hits = misses = 0
        for _ in range(64):  # until each node owns a few (ids are random: ~1 in 2 each)
            if hits >= 4 and misses >= 4:
                break
            created = await client.post("/v1/agents/echo/sessions")
            assert created.status_code == 201
            session_id = created.json()["session_id"]
            owner = owner_of(session_id, addresses)
            assert created.headers[OWNER_HEADER] == addresses[owner]
            assert created.headers[NODE_HEADER] == "node-a"
            for turn in range(2):
                response = await client.post(
                    f"/v1/agents/echo/sessions/{session_id}/messages",
                    json={"messages": [{"role": "user", "content": f"hi {turn}"}]},
                )
                assert response.status_code == 200  # served here whoever owns it
                assert response.headers[OWNER_HEADER] == addresses[owner]
                assert response.headers[NODE_HEADER] == "node-a"
                hits += owner == "node-a"
                misses += owner == "node-b"
        assert hits >= 4 and misses >= 4
        unknown = await client.get("/v1/agents/echo/sessions/no-such-session")
        assert unknown.status_code == 404
        assert unknown.headers[OWNER_HEADER] in addresses.values()  # named, not counted
        text = (await client.get("/metrics")).text
        assert _metric(text, "sessionful_affinity_hits_total") == hits
        assert _metric(text, "sessionful_affinity_misses_total") == misses
        assert _metric(text, "sessionful_cluster_nodes") == 2
        healthz = await client.get("/healthz")
        assert OWNER_HEADER not in healthz.headers  # not about a session
        assert set(_rows(postgres_dsn)) == {"node-a", "node-b"}
    assert set(_rows(postgres_dsn)) == {"node-b"}  # a clean shutdown deregisters


async def test_the_owner_header_can_be_turned_off(postgres_dsn: str) -> None:
    app = create_app(_settings(postgres_dsn, owner_header=False))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://in-process", headers={"X-API-Key": KEY}
        ) as client,
    ):
        created = await client.post("/v1/agents/echo/sessions")
        session_id = created.json()["session_id"]
        response = await client.post(
            f"/v1/agents/echo/sessions/{session_id}/messages",
            json={"messages": [{"role": "user", "content": "hi"}]},
        )
        assert response.status_code == 200
        assert OWNER_HEADER not in response.headers and NODE_HEADER not in response.headers
        text = (await client.get("/metrics")).text
        assert _metric(text, "sessionful_affinity_hits_total") == 1  # alone: always a hit
        assert _metric(text, "sessionful_affinity_misses_total") == 0
