"""``SessionfulSession``: the OpenAI Agents SDK's ``Session`` protocol on sessionful's stores.

Use it as you would the SDK's ``SQLiteSession``::

    session = SessionfulSession("conversation-1", "sqlite:///.sessionful/sessions.db")
    result = await Runner.run(agent, "Hello", session=session)

The items live in the store's item log (:mod:`sessionful.stores._items`): the same SQLite file
or Postgres database as the sessions the manager persists, or an in-process ``memory://`` store.
When the manager drives a session it builds one with the session's lease, and every write is then
fenced: after another process claimed the session, a write raises ``LeaseLost`` and lands
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sessionful.errors import ConfigurationError
from sessionful.stores import MemoryStore, PostgresStore, SessionStore, SQLiteStore, store_from_url
from sessionful.stores._items import KEEP, ItemLog, item_log_for
from sessionful.stores.base import Lease

if TYPE_CHECKING:
    from agents import TResponseInputItem
    from agents.memory import SessionSettings

__all__ = ["SessionfulSession"]

_STORES: dict[str, type[SessionStore]] = {
    scheme: kind for kind in (SQLiteStore, PostgresStore, MemoryStore) for scheme in kind.schemes
}


class SessionfulSession:
    """An OpenAI Agents SDK session whose items live in a sessionful store.

    Args:
        session_id: the conversation's id (under a manager: the session key's string form).
        store: a store URL (``sqlite:///path.db``, ``postgresql://...``, ``memory://``) or a
            :class:`~sessionful.stores.SessionStore`. A store built from a URL belongs to the
            session (``close()`` releases it); a store object stays the caller's.
        session_settings: the SDK's ``SessionSettings`` (its ``limit`` is the default of
            ``get_items``).
        lease: the session's lease, when a manager drives it: every write is fenced by it.
    """

    def __init__(
        self,
        session_id: str,
        store: str | SessionStore,
        *,
        session_settings: SessionSettings | None = None,
        lease: Lease | None = None,
    ) -> None:
        if isinstance(store, str):
            self._store = store_from_url(store, _STORES)
            self._owned = True
        elif isinstance(store, SessionStore):
            self._store = store
            self._owned = False
        else:
            raise ConfigurationError(f"store must be a URL or a SessionStore, not {store!r}")
        self.session_id = session_id
        self.session_settings = session_settings
        self.lease = lease
        self._log: ItemLog = item_log_for(self._store)
        self._opened = False

    @property
    def store(self) -> SessionStore:
        """The store the items live in."""
        return self._store

    async def _ready(self) -> ItemLog:
        if not self._opened:
            await self._store.open()
            self._opened = True
        return self._log

    def _limit(self, limit: int | None) -> int | None:
        if limit is None and self.session_settings is not None:
            return self.session_settings.limit
        return limit

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The conversation's items, oldest first: all of them, or the latest ``limit``
        (default: ``session_settings.limit``)."""
        log = await self._ready()
        return await log.get(self.session_id, self._limit(limit))

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` (JSON), in one transaction."""
        if not items:
            return
        log = await self._ready()
        await log.add(self.session_id, items, self.lease)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the latest item, or ``None`` when the session is empty."""
        log = await self._ready()
        item: TResponseInputItem | None = await log.pop(self.session_id, self.lease)
        return item

    async def clear_session(self) -> None:
        """Delete every item of the session (and any run state kept with it)."""
        log = await self._ready()
        await log.clear(self.session_id, self.lease)

    # -- what the adapter keeps beside the items -------------------------------------------------

    async def commit(self, items: Sequence[Any], state: Any = KEEP) -> None:
        """Append ``items`` and replace the session's run state (``None`` deletes it) in one
        fenced transaction: a turn lands whole or not at all."""
        log = await self._ready()
        await log.add(self.session_id, items, self.lease, state)

    async def get_state(self) -> Any | None:
        """The run state kept with the session, or ``None``."""
        log = await self._ready()
        return await log.get_state(self.session_id)

    async def close(self) -> None:
        """Release the store if this session built it from a URL."""
        if self._owned and self._opened:
            self._opened = False
            await self._store.aclose()

    def __repr__(self) -> str:
        return f"SessionfulSession({self.session_id!r}, {self._store!r})"
