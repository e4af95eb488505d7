"""The service as a gateway uses it (issue 15), over real HTTP (uvicorn on loopback, httpx), on
SQLite and on PostgreSQL: sessions under the caller's own ids (``PUT``), end users and labels
and the listing's filters and cursor, feedback (stored with the session, deleted with it,
counted by agent in ``/metrics``), ``GET /v1/agents``, history pages and checkpoints,
``/readyz``, and wall-clock RFC 3339 times everywhere."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from sessionful.service.app import mask_url
from sessionful.service.config import Settings
from sessionful.service.http import create_app
from support import cluster as clusters
from support import server as servers
from support.postgres import schema_url
from test_server import assert_error, hello, turns

ALICE, BOB, ECHO = servers.ALICE, servers.BOB, servers.ECHO

LIMIT = 6
"""max_sessions_per_principal of these servers."""


def _config(folder: Path, store: str, dsn: str | None) -> Path:
    options: dict[str, Any] = {"limits": {"max_sessions_per_principal": LIMIT}}
    if store == "postgres":
        assert dsn is not None
        config = clusters.instance_config(folder, dsn, "node", **options)
    else:
        config = servers.write_config(folder, langgraph=False, **options)
    with config.open("a", encoding="utf-8") as file:
        file.write("\n[feedback]\nmin_rating = 0\nmax_rating = 10\n")
    return config


@pytest.fixture(scope="module")
def module_postgres_dsn() -> Iterator[str]:
    """conftest's ``postgres_dsn`` for the module: a schema of its own, dropped afterwards."""
    with schema_url() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[servers.Server]:
    dsn = request.getfixturevalue("module_postgres_dsn") if request.param == "postgres" else None
    config = _config(tmp_path_factory.mktemp(f"gateway-{request.param}"), request.param, dsn)
    with servers.running(config, access_log=False) as running:
        yield running


@pytest.fixture
def alice(server: servers.Server) -> Iterator[httpx.Client]:
    with server.client(ALICE) as client:
        yield client
    # Each test leaves alice none of its sessions, so the next one has her whole budget.
    with server.client(ALICE) as client:
        for item in client.get("/v1/sessions", params={"limit": 500}).json()["sessions"]:
            client.delete(session_url(item["session_id"], item["agent_id"]))


@pytest.fixture
def bob(server: servers.Server) -> Iterator[httpx.Client]:
    with server.client(BOB) as client:
        yield client
        for item in client.get("/v1/sessions", params={"limit": 500}).json()["sessions"]:
            client.delete(session_url(item["session_id"], item["agent_id"]))


def session_url(session_id: str, agent: str = ECHO) -> str:
    return f"/v1/agents/{agent}/sessions/{session_id}"


def rfc3339(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None, text
    return value


def recent(text: str, within: float = 120.0) -> bool:
    return abs((rfc3339(text) - datetime.now(timezone.utc)).total_seconds()) < within


# -- your own session ids -----------------------------------------------------------------------


def test_put_creates_then_answers_the_existing_session(
    alice: httpx.Client, bob: httpx.Client
) -> None:
    body = {"user_id": "u-7", "labels": {"channel": "web"}}
    made = alice.put(session_url("conv-42"), json=body)
    assert made.status_code == 201, made.text
    assert made.headers["location"] == session_url("conv-42")
    created = made.json()
    assert created["session_id"] == "conv-42" and created["user_id"] == "u-7"
    assert created["labels"] == {"channel": "web"} and recent(created["created_at"])
    assert alice.post(turns(ECHO, "conv-42"), json=hello("one")).status_code == 200
    again = alice.put(session_url("conv-42"), json={"user_id": "someone-else"})
    assert again.status_code == 200, again.text
    assert again.json() == created  # the existing one, as it is: its own user and labels
    assert alice.get(session_url("conv-42")).json()["stored"]["turn_count"] == 1
    # Bob's conv-42 is another session; alice's is not his to see.
    assert bob.put(session_url("conv-42")).status_code == 201
    assert bob.get(session_url("conv-42")).json()["stored"]["turn_count"] == 0
    # After an end, the same id starts afresh.
    assert alice.delete(session_url("conv-42")).json()["deleted"]["sessions"] == 1
    fresh = alice.put(session_url("conv-42"))
    assert fresh.status_code == 201 and fresh.json()["user_id"] is None
    assert alice.get(session_url("conv-42")).json()["stored"]["turn_count"] == 0


def test_put_validates_the_id_like_a_session_key(alice: httpx.Client) -> None:
    error = assert_error(alice.put(session_url("a%01b")), 422, "invalid_id")
    assert "U+0001" in error["message"]
    error = assert_error(alice.put(session_url("x" * 257)), 422, "invalid_id")
    assert "256" in error["message"]
    assert_error(alice.put(session_url("ok", "no-such-agent")), 404, "agent_not_found")
    error = assert_error(
        alice.put(session_url("ok"), json={"labels": {"a:b": "c"}}), 422, "invalid_request"
    )
    assert "':'" in error["message"]
    assert_error(alice.put(session_url("ok"), json={"user_id": ""}), 422, "invalid_request")
    assert_error(alice.put(session_url("ok"), json={"extra": 1}), 422, "invalid_request")


def test_put_counts_against_the_principals_limit(alice: httpx.Client) -> None:
    for n in range(LIMIT):
        assert alice.put(session_url(f"mine-{n}")).status_code == 201
    assert alice.put(session_url("mine-0")).status_code == 200  # existing: no new session
    assert_error(alice.put(session_url("one-too-many")), 429, "too_many_sessions")
    assert_error(alice.post(f"/v1/agents/{ECHO}/sessions"), 429, "too_many_sessions")
    alice.delete(session_url("mine-0"))
    assert alice.put(session_url("one-too-many")).status_code == 201


# -- end users, labels, the listing's filters and cursor ----------------------------------------


def test_listing_filters_by_user_labels_and_activity(alice: httpx.Client) -> None:
    made = {
        "s-web-7": {"user_id": "u-7", "labels": {"channel": "web", "tier": "gold"}},
        "s-app-7": {"user_id": "u-7", "labels": {"channel": "app"}},
        "s-web-8": {"user_id": "u-8", "labels": {"channel": "web"}},
    }
    for session_id, body in made.items():
        assert alice.put(session_url(session_id), json=body).status_code == 201
    posted = alice.post(f"/v1/agents/{ECHO}/sessions", json={"user_id": "u-9"})
    assert posted.status_code == 201 and posted.json()["user_id"] == "u-9"

    def ids(**params: Any) -> list[str]:
        response = alice.get("/v1/sessions", params=params)
        assert response.status_code == 200, response.text
        return sorted(s["session_id"] for s in response.json()["sessions"])

    assert ids(user_id="u-7") == ["s-app-7", "s-web-7"]
    assert ids(label="channel:web") == ["s-web-7", "s-web-8"]
    assert ids(label=["channel:web", "tier:gold"]) == ["s-web-7"]
    assert ids(user_id="u-7", label="channel:web") == ["s-web-7"]
    assert ids(user_id="nobody") == []
    assert ids(user_id="u-9") == [posted.json()["session_id"]]
    listed = alice.get("/v1/sessions", params={"user_id": "u-7"}).json()["sessions"]
    assert {s["session_id"]: s["labels"] for s in listed} == {
        "s-web-7": {"channel": "web", "tier": "gold"},
        "s-app-7": {"channel": "app"},
    }
    now = datetime.now(timezone.utc)
    assert len(ids(active_after=(now - timedelta(minutes=5)).isoformat())) == 4
    assert ids(active_after=(now + timedelta(minutes=5)).isoformat()) == []
    assert ids(active_before=(now - timedelta(minutes=5)).isoformat()) == []
    assert ids(agent_id=ECHO, user_id="u-8") == ["s-web-8"]
    assert_error(alice.get("/v1/sessions", params={"label": "web"}), 422, "invalid_request")
    assert_error(
        alice.get("/v1/sessions", params={"active_after": "yesterday"}), 422, "invalid_request"
    )
    # A page at a time, through the cursor, filters and all.
    seen, after = [], None
    while True:
        params: dict[str, Any] = {"limit": 1, "label": "channel:web"}
        if after is not None:
            params["after"] = after
        page = alice.get("/v1/sessions", params=params).json()
        seen += [s["session_id"] for s in page["sessions"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == ["s-web-7", "s-web-8"]


def test_an_empty_listing_names_its_store(alice: httpx.Client, server: servers.Server) -> None:
    body = alice.get("/v1/sessions", params={"user_id": "nobody"}).json()
    assert body["sessions"] == [] and body["store"]
    assert body["store"].split(":")[0] in ("sqlite", "postgresql")
    assert urlsplit(body["store"]).password in (None, "***")  # a password never shows


def test_a_store_password_is_masked() -> None:
    assert mask_url("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert mask_url("host=db password=s3cret dbname=x") == "host=db password=*** dbname=x"
    assert mask_url("sqlite:///var/lib/sessions.db") == "sqlite:///var/lib/sessions.db"


# -- feedback -----------------------------------------------------------------------------------


def test_feedback_is_kept_with_the_session_and_goes_with_it(
    alice: httpx.Client, bob: httpx.Client, server: servers.Server
) -> None:
    url = session_url("rated")
    assert alice.put(url).status_code == 201
    alice.post(turns(ECHO, "rated"), json=hello())
    before = server.metric("sessionful_feedback_rating_count", agent_id=ECHO)
    first = alice.post(f"{url}/feedback", json={"rating": 8, "comment": "quick", "turn": 1})
    assert first.status_code == 201, first.text
    assert first.json() == {
        "agent_id": ECHO,
        "session_id": "rated",
        "rating": 8.0,
        "feedback_count": 1,
        "feedback_mean": 8.0,
    }
    # Thumbs are the configured scale's ends ([feedback] 0 to 10 here).
    down = alice.post(f"{url}/feedback", json={"rating": "down"}).json()
    assert (down["rating"], down["feedback_count"], down["feedback_mean"]) == (0.0, 2, 4.0)
    up = alice.post(f"{url}/feedback", json={"rating": "up"}).json()
    assert (up["rating"], up["feedback_count"]) == (10.0, 3) and up["feedback_mean"] == 6.0
    shown = alice.get(url).json()
    assert (shown["feedback_count"], shown["feedback_mean"]) == (3, 6.0)
    assert (shown["stored"]["feedback_count"], shown["stored"]["feedback_mean"]) == (3, 6.0)
    assert shown["stats"]["feedback_count"] == 3
    assert server.metric("sessionful_feedback_rating_count", agent_id=ECHO) == before + 3
    # Off the scale, malformed, or not a session of the caller's.
    for bad in ({"rating": 11}, {"rating": -1}, {"rating": "meh"}, {}, {"rating": 5, "turn": -1}):
        assert_error(alice.post(f"{url}/feedback", json=bad), 422, "invalid_request")
    assert_error(bob.post(f"{url}/feedback", json={"rating": 5}), 404, "session_not_found")
    missing = session_url("never-made")
    assert_error(alice.post(f"{missing}/feedback", json={"rating": 5}), 404, "session_not_found")
    # Deleted with the session: the same id, made again, has none.
    assert alice.delete(url).json()["deleted"]["feedback"] == 3
    assert alice.put(url).status_code == 201
    again = alice.get(url).json()
    assert (again["feedback_count"], again["feedback_mean"]) == (0, None)


def test_the_schema_carries_the_configured_scale(server: servers.Server) -> None:
    with server.client() as anonymous:
        schema = anonymous.get("/openapi.json").json()
    rating = schema["components"]["schemas"]["FeedbackRequest"]["properties"]["rating"]
    number = next(option for option in rating["anyOf"] if option.get("type") == "number")
    assert (number["minimum"], number["maximum"]) == (0, 10)
    paths = schema["paths"]
    assert "put" in paths["/v1/agents/{agent_id}/sessions/{session_id}"]
    listing = {p["name"] for p in paths["/v1/sessions"]["get"]["parameters"]}
    assert {"user_id", "label", "active_after", "active_before", "after", "limit"} <= listing
    assert "get" in paths["/v1/agents"] and "get" in paths["/readyz"]


# -- reads --------------------------------------------------------------------------------------


def test_agents_are_listed(alice: httpx.Client) -> None:
    assert alice.get("/v1/agents").json() == {
        "agents": [
            {
                "id": ECHO,
                "name": ECHO,
                "template_id": "echo",
                "template_version": "1",
                "framework": "stub",
            }
        ]
    }
    with httpx.Client(base_url=str(alice.base_url)) as anonymous:
        assert_error(anonymous.get("/v1/agents"), 401, "unauthorized")


def test_history_comes_a_page_at_a_time(alice: httpx.Client) -> None:
    url = session_url("long")
    alice.put(url)
    for n in range(5):
        assert alice.post(turns(ECHO, "long"), json=hello(f"m{n}")).status_code == 200
    texts: list[str] = []
    after: int | None = 0
    pages = 0
    while after is not None:
        page = alice.get(f"{url}/history", params={"limit": 3, "after": after}).json()
        assert len(page["messages"]) <= 3 and page["checkpoints"] is None
        texts += [m["content"] for m in page["messages"]]
        after, pages = page["next_after"], pages + 1
    assert pages == 4
    assert texts == [t for n in range(5) for t in (f"m{n}", f"echo #{n + 1}: m{n}")]
    whole = alice.get(url).json()["history"]
    assert [m["content"] for m in whole] == texts
    # The stub keeps no checkpoints: an empty list, not an error.
    with_states = alice.get(f"{url}/history", params={"limit": 1, "checkpoints": "true"}).json()
    assert with_states["checkpoints"] == [] and len(with_states["messages"]) == 1
    assert_error(alice.get(f"{session_url('nope')}/history"), 404, "session_not_found")
    assert_error(alice.get(f"{url}/history", params={"limit": 0}), 422, "invalid_request")


def test_turn_stats_and_listings_tell_wall_clock_time(alice: httpx.Client) -> None:
    alice.put(session_url("timed"))
    started = time.time()
    turn = alice.post(turns(ECHO, "timed"), json=hello()).json()
    stats = turn["stats"]
    for name in ("created_at", "last_activity"):
        assert recent(stats[name], within=60), stats
    assert rfc3339(stats["last_activity"]).timestamp() >= started - 5
    listed = alice.get("/v1/sessions").json()["sessions"]
    entry = next(s for s in listed if s["session_id"] == "timed")
    # The turn's and the listing's times are one clock: within a second of each other.
    gap = rfc3339(entry["last_activity"]) - rfc3339(stats["last_activity"])
    assert abs(gap.total_seconds()) < 1.0, (entry, stats)


def test_readyz(server: servers.Server) -> None:
    with server.client() as anonymous:
        ready = anonymous.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        assert anonymous.get("/healthz").json() == {"status": "ok"}


# -- not ready (in process: a store that stops answering) ---------------------------------------


def test_readyz_answers_503_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        store=f"sqlite:///{tmp_path / 'sessions.db'}",
        agents=[{"id": ECHO, "framework": "stub", "template_id": "echo"}],  # type: ignore[list-item]
    )
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        manager = next(iter(app.state.service.managers.values()))

        async def broken() -> None:
            raise OSError("database is gone")

        monkeypatch.setattr(manager, "check_store", broken)
        answer = client.get("/readyz")
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error["code"] == "not_ready" and "database is gone" in error["message"]
        assert client.get("/healthz").status_code == 200  # still alive
