"""Every error sessionful raises, rooted at one class.

Each error also inherits the builtin it resembles, so ``except LookupError`` keeps working, and
carries its context as attributes rather than only in the message::

    SessionfulError
    ├── ConfigurationError (ValueError)         a developer mistake, raised at construction
    │   ├── InvalidSessionKey                   an id that cannot name a session (.field, .value)
    │   ├── UnknownFramework (LookupError)      .name, .available
    │   ├── UnknownStrategy (LookupError)       .name, .available
    │   ├── UnknownTemplate (LookupError)       .name, .available (id@version)
    │   ├── UnknownStore (LookupError)          .name (the URL scheme), .available
    │   └── UnknownAgent (LookupError)          .agent_id
    ├── SessionError (RuntimeError)             a runtime failure of one session (.key)
    │   ├── SessionBusy                         a turn is in flight and the overlap policy rejects
    │   ├── CapacityExceeded                    max_active reached and every instance is mid-turn
    │   ├── AgentCreationFailed                 the adapter's create_agent raised (``__cause__``)
    │   ├── SessionNotFound (LookupError)       no such session (ended, purged, never made)
    │   ├── InterruptPending                    the session waits for answers (.interrupts)
    │   ├── InvalidResume (ValueError)          resume names no pending interrupt (.unknown)
    │   ├── LeaseLost                           another process claimed the session (.epoch)
    │   └── CorruptSessionData                  a stored row does not decode; nothing was run
    └── StoreError (RuntimeError)               the session store failed
        ├── StoreUnavailable                    locked or unreachable past the retry budget
        └── SchemaTooNew                        written by a newer version (.found, .supported)

A framework's own exception is re-raised at the adapter boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "AgentCreationFailed",
    "SessionfulError",
    "CapacityExceeded",
    "ConfigurationError",
    "CorruptSessionData",
    "InterruptPending",
    "InvalidResume",
    "InvalidSessionKey",
    "LeaseLost",
    "SchemaTooNew",
    "SessionBusy",
    "SessionError",
    "SessionNotFound",
    "StoreError",
    "StoreUnavailable",
    "UnknownAgent",
    "UnknownFramework",
    "UnknownStore",
    "UnknownStrategy",
    "UnknownTemplate",
]


class SessionfulError(Exception):
    """The root of every error this library raises."""


class ConfigurationError(SessionfulError, ValueError):
    """A developer mistake: bad arguments or an unknown name, raised where it is made."""


class InvalidSessionKey(ConfigurationError):
    """An id cannot be part of a session key: empty, too long, or holding forbidden characters."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else repr(value[:60])
        super().__init__(f"invalid {field} {shown}: {reason}")


class _UnknownName(ConfigurationError, LookupError):
    kind = "name"

    def __init__(self, name: str, available: Iterable[str]) -> None:
        self.name = name
        self.available = sorted(available)
        listed = ", ".join(repr(a) for a in self.available) or "none"
        super().__init__(f"unknown {self.kind} {name!r}; registered: {listed}")

    def __str__(self) -> str:  # LookupError's str() would quote the message again
        return str(self.args[0])


class UnknownFramework(_UnknownName):
    """No plugin registered a framework of this name. ``.available`` lists those that did."""

    kind = "framework"


class UnknownStrategy(_UnknownName):
    """No plugin registered a session strategy of this name."""

    kind = "strategy"


class UnknownTemplate(_UnknownName):
    """No plugin registered this ``template_id@version`` for the manager's framework."""

    kind = "template"


class UnknownStore(_UnknownName):
    """No plugin registered a session store for this URL scheme."""

    kind = "store scheme"


class UnknownAgent(ConfigurationError, LookupError):
    """The agent id is not in the manager's catalog; call ``register_agent`` first."""

    def __init__(self, agent_id: str, available: Iterable[str] = ()) -> None:
        self.agent_id = agent_id
        self.available = sorted(available)
        super().__init__(f"unknown agent {agent_id!r}; register it with register_agent()")

    def __str__(self) -> str:
        return str(self.args[0])


class SessionError(SessionfulError, RuntimeError):
    """A runtime failure that concerns one session, named by ``.key``."""

    def __init__(self, key: Any, message: str) -> None:
        self.key = key
        super().__init__(message)


class SessionNotFound(SessionError, LookupError):
    """No such session: it was never created, or it was ended or purged (on any process, for
    the ``persisted`` strategy, whose store is the truth of which sessions exist)."""

    def __init__(self, key: Any) -> None:
        self.agent_id: str = getattr(key, "agent_id", "")
        self.session_id: str | None = getattr(key, "session_id", None)
        super().__init__(key, f"no session {key}")

    def __str__(self) -> str:  # LookupError's str() would quote the message again
        return str(self.args[0])


class SessionBusy(SessionError):
    """A turn is already running on this session and the overlap policy is ``reject``."""

    def __init__(self, key: Any) -> None:
        super().__init__(key, f"session {key} is running a turn; overlap policy is 'reject'")


class CapacityExceeded(SessionError):
    """``max_active`` is reached by instances that are all mid-turn or still being created, so
    none can be evicted to make room."""

    def __init__(self, key: Any, max_active: int) -> None:
        self.max_active = max_active
        super().__init__(
            key, f"cannot start session {key}: {max_active} instances active, all mid-turn"
        )


class AgentCreationFailed(SessionError):
    """The adapter failed to create the instance; the cause is chained as ``__cause__``."""

    def __init__(self, key: Any, cause: BaseException) -> None:
        super().__init__(key, f"creating the agent for session {key} failed: {cause!r}")


class LeaseLost(SessionError):
    """Another process claimed this session after we did; our write was refused, our instance
    dropped. The turn was not acknowledged: retry it, and it runs on the reloaded session."""

    def __init__(self, key: Any, epoch: int) -> None:
        self.epoch = epoch
        super().__init__(key, f"session {key} was claimed by another process (our epoch {epoch})")


class CorruptSessionData(SessionError):
    """A stored row of this session does not decode as the JSON we write; it was refused and
    nothing in it was run."""

    def __init__(self, key: Any, reason: str) -> None:
        self.reason = reason
        super().__init__(key, f"session {key}: {reason}")


class StoreError(SessionfulError, RuntimeError):
    """The session store failed."""


class StoreUnavailable(StoreError):
    """The store stayed locked or unreachable for longer than its retry budget."""


class SchemaTooNew(StoreError):
    """The database's schema is newer than this code understands; upgrade sessionful."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"the session database has schema version {found}; this sessionful understands "
            f"up to {supported}. Upgrade sessionful, or point it at another database."
        )


class InterruptPending(SessionError):
    """The session's last turn stopped with interrupts; a turn must answer them with ``resume``
    before the conversation goes on. ``.interrupts`` lists them."""

    def __init__(self, key: Any, interrupts: Sequence[Any]) -> None:
        self.interrupts = list(interrupts)
        ids = ", ".join(repr(i.id) for i in self.interrupts)
        super().__init__(key, f"session {key} waits for answers to interrupts {ids}")


class InvalidResume(SessionError, ValueError):
    """``resume`` answers interrupts the session does not have pending. ``.unknown`` lists the
    ids that are not pending; ``.pending`` those that are."""

    def __init__(self, key: Any, unknown: Iterable[str], pending: Iterable[str]) -> None:
        self.unknown = sorted(unknown)
        self.pending = sorted(pending)
        super().__init__(
            key,
            f"resume names {', '.join(map(repr, self.unknown))}, which session {key} does not "
            f"have pending (pending: {', '.join(map(repr, self.pending)) or 'none'})",
        )
