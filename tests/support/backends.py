"""Persisted-strategy test backends: the memory store, a SQLite file and (when a server is
available) Postgres, each a fresh namespace; managers on new store objects over the same data
(one per "process"); and helpers to say a turn and read the log back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sessionful import (
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    SessionKey,
    SessionManager,
)
from sessionful.stores import MemoryStore, SessionStore, SQLiteStore
from support import workers

__all__ = [
    "BOT",
    "DAY",
    "Backend",
    "Managers",
    "Say",
    "backend",
    "logged",
    "managers",
    "reply",
    "say",
]

check_log: Callable[[Sequence[ChatMessage]], list[str]] = workers.check_log

BOT = "customer-service-bot"
DAY = 86_400.0


@dataclass
class Backend:
    name: str
    new_store: Callable[[], SessionStore]
    """Another store object on the same data (a second process's connection)."""
    namespace: str
    """Every session of a test lives in its own namespace."""
    path: Path | None = None
    """The SQLite file."""

    def key(self, session: str = "s1") -> SessionKey:
        return SessionKey(BOT, session, self.namespace)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    namespace = f"p-{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        shared = MemoryStore()
        yield Backend("memory", lambda: shared, namespace)
    elif request.param == "sqlite":
        path = tmp_path / "sessions.db"
        yield Backend("sqlite", lambda: SQLiteStore(path), namespace, path)
    else:
        url = workers.postgres_url(request)
        from sessionful.stores.postgres import PostgresStore

        yield Backend("postgres", lambda: PostgresStore.from_url(url), namespace)
        store = PostgresStore.from_url(url)
        try:
            await workers.drop_namespace(store, namespace)
        finally:
            await store.aclose()


Managers = Callable[..., SessionManager]


@pytest.fixture
async def managers(make_manager: Managers, backend: Backend) -> AsyncIterator[Managers]:
    """``managers(**overrides)``: a persisted-strategy manager on the stub, on a new store object
    over the backend's data; all are closed at the end."""
    made: list[SessionManager] = []

    def new(**overrides: Any) -> SessionManager:
        overrides.setdefault("strategy", "persisted")
        overrides.setdefault("store", backend.new_store())
        manager = make_manager(**overrides)
        made.append(manager)
        return manager

    yield new
    for manager in made:
        await manager.aclose()


@pytest.fixture
def say(backend: Backend) -> Callable[..., Any]:
    """``await say(manager, "text", "s1")``: one turn in the backend's namespace."""

    async def run(manager: SessionManager, text: str, session: str = "s1") -> ExecutionResult:
        return await manager.execute(
            ExecuteAgentCommand(
                agent_id=BOT,
                session_id=session,
                principal=backend.namespace,
                messages=[ChatMessage.user(text)],
            )
        )

    return run


Say = Callable[..., Any]


def reply(result: ExecutionResult) -> str:
    return result.messages[-1].text


async def logged(manager: SessionManager, key: SessionKey) -> list[str]:
    """The user texts of ``key``'s log, checked for an unbroken ``echo #n`` sequence."""
    assert manager.store is not None
    return check_log(await manager.store.history(key))
