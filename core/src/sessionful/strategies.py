"""Session strategies: which instance a turn runs on, and whether its state outlives it.

A strategy is a small policy object, registered by name through the ``register_strategies`` hook
like any plugin's. It decides the :class:`~sessionful.SessionKey` of a turn; the manager does
the rest. ``persistent = True`` tells the manager to load and save the session through its
``SessionStore`` (the ``persisted`` strategy).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import ClassVar, Protocol, runtime_checkable

from sessionful.hookspecs import hookimpl
from sessionful.keys import SessionKey

__all__ = ["PerSessionStrategy", "PersistedStrategy", "SessionStrategy", "SharedStrategy"]


@runtime_checkable
class SessionStrategy(Protocol):
    """How turns map to instances."""

    name: ClassVar[str]
    persistent: ClassVar[bool]
    """True when session state must survive its instance (restored from a store)."""

    def context_key(
        self, agent_id: str, session_id: str | None, namespace: str | None
    ) -> SessionKey:
        """The key of the instance that runs this turn. Raises ``InvalidSessionKey``."""
        ...


@lru_cache(maxsize=256)
def _cached(agent_id: str, session_id: str | None, namespace: str | None) -> SessionKey:
    return SessionKey(agent_id, session_id, namespace)


def session_key(agent_id: str, session_id: str | None, namespace: str | None) -> SessionKey:
    """``SessionKey(agent_id, session_id, namespace)``, remembered for the 256 sessions seen
    most recently: their turns skip re-validating and re-escaping ids already checked. Kept
    small on purpose, so ended sessions' keys do not linger in memory."""
    try:
        return _cached(agent_id, session_id, namespace)
    except TypeError:  # an unhashable id: let the key say what is wrong with it
        return SessionKey(agent_id, session_id, namespace)


class SharedStrategy:
    """One instance per agent, whatever the session: simple and cheap, but every session's
    messages land in one context. Right for stateless agents."""

    name: ClassVar[str] = "shared"
    persistent: ClassVar[bool] = False

    def context_key(
        self, agent_id: str, session_id: str | None, namespace: str | None
    ) -> SessionKey:
        """``agent_id`` (in its namespace) alone; the session id is validated, then ignored."""
        if session_id is not None:
            session_key(agent_id, session_id, namespace)  # reject bad ids here too
        return session_key(agent_id, None, namespace)


class PerSessionStrategy:
    """One instance per ``agent#session``, in memory: isolated contexts, lost on eviction."""

    name: ClassVar[str] = "per_session"
    persistent: ClassVar[bool] = False

    def context_key(
        self, agent_id: str, session_id: str | None, namespace: str | None
    ) -> SessionKey:
        """``agent_id#session_id``; without a session id, the agent-level instance."""
        return session_key(agent_id, session_id, namespace)


class PersistedStrategy(PerSessionStrategy):
    """One instance per ``agent#session`` whose state lives in a session store: restored after
    eviction, restart, or on another process; fenced so only the latest claimant writes."""

    name: ClassVar[str] = "persisted"
    persistent: ClassVar[bool] = True


@hookimpl
def register_strategies(register: Callable[[SessionStrategy], None]) -> None:
    """The built-in strategies, registered through the same hook as a plugin's."""
    register(SharedStrategy())
    register(PerSessionStrategy())
    register(PersistedStrategy())
