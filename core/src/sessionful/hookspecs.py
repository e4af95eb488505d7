"""Every hook sessionful calls. A plugin implements any subset with ``@hookimpl``.

Registration hooks are called once, when a manager loads its plugins; each takes a ``register``
callback. Lifecycle hooks observe: they are called after the fact, their return values are
ignored, and an exception raised in one is logged and swallowed so metrics never break a turn.
Implementations may accept any subset of the arguments, by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pluggy

from sessionful.content import Usage
from sessionful.factory import AgentInstance, Framework
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage, Interrupt, SessionStats, TurnStatus, UnloadReason
from sessionful.templates import AgentTemplate

if TYPE_CHECKING:
    from sessionful.stores.base import SessionStore
    from sessionful.strategies import SessionStrategy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "sessionful"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Decorate a plugin's hook functions with this."""


@hookspec
def register_frameworks(register: Callable[[Framework], None]) -> None:
    """Register agent frameworks: call ``register(framework)`` once for each.

    ``framework.name`` must be unique across plugins; a clash raises ``ConfigurationError``
    naming both plugins.
    """


@hookspec
def register_strategies(register: Callable[[SessionStrategy], None]) -> None:
    """Register session strategies: call ``register(strategy)`` with a
    :class:`~sessionful.SessionStrategy` (an object with ``name``, ``persistent`` and
    ``context_key``). Names must be unique; the built-ins are ``shared``, ``per_session`` and
    ``persisted``.
    """


@hookspec
def register_stores(register: Callable[[type[SessionStore]], None]) -> None:
    """Register session store classes: call ``register(store_class)`` with a
    :class:`~sessionful.stores.SessionStore` subclass whose ``schemes`` name the URL schemes
    it serves and whose ``from_url(url)`` builds it. Schemes must be unique.
    """


@hookspec
def register_templates(register: Callable[[AgentTemplate], None]) -> None:
    """Register agent templates: call ``register(template)`` with an
    :class:`~sessionful.AgentTemplate` for each ``(framework, template_id, version)``.
    A repeated triple raises ``ConfigurationError``.
    """


@hookspec
def session_created(key: SessionKey, instance: AgentInstance, stats: SessionStats) -> None:
    """A new instance was created for ``key`` and is about to run its first turn."""


@hookspec
def session_restored(key: SessionKey, instance: AgentInstance, stats: SessionStats) -> None:
    """A session's instance was rebuilt from the store (``persisted`` strategy): after an
    eviction, a restart, or a claim from another process. Fired before its turn runs."""


@hookspec
def session_reused(key: SessionKey, stats: SessionStats) -> None:
    """A turn found ``key``'s instance live and reused it (fired before the turn runs)."""


@hookspec
def session_evicted(key: SessionKey, reason: UnloadReason, stats: SessionStats) -> None:
    """``key``'s instance was unloaded; its session may come back later.

    ``reason`` is ``"idle"`` (idle_timeout), ``"lifetime"`` (max_lifetime), ``"capacity"``
    (LRU at max_active), ``"evicted"`` (an explicit ``evict``), ``"shutdown"``, or
    ``"lease-lost"`` (``persisted``: another process claimed the session, or a write failed, so
    this instance was behind the store and is dropped; the next turn restores).
    """


@hookspec
def session_ended(key: SessionKey, stats: SessionStats | None) -> None:
    """``key``'s session was ended explicitly; ``stats`` is ``None`` if it was not loaded."""


@hookspec
def turn_completed(
    key: SessionKey,
    messages: Sequence[ChatMessage],
    duration: float,
    stats: SessionStats,
    instance_event: str,
    status: TurnStatus,
    usage: Usage | None,
) -> None:
    """A turn finished: ``messages`` are the agent's new messages, ``duration`` its seconds,
    ``status`` ``"completed"`` or ``"interrupted"`` (then ``turn_interrupted`` follows),
    ``usage`` its tokens when the framework reports them.

    Not called for a turn that raised or a stream that was abandoned.
    """


@hookspec
def turn_interrupted(
    key: SessionKey, interrupts: Sequence[Interrupt], stats: SessionStats, instance_event: str
) -> None:
    """A turn stopped to ask something: ``interrupts`` wait for the session's next turn to
    answer them with ``resume``. Called after ``turn_completed`` for the same turn."""
