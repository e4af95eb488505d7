"""Lifecycle policy and the expiry index that makes a sweep cost O(expired), not O(live).

Idle expiry and LRU eviction read the same order: live instances sorted by last activity, kept
in an ``OrderedDict`` that moves an instance to the end when a turn finishes. With one
``idle_timeout`` for all, the idle-expired instances are a prefix of that order, so a sweep pops
from the front and stops at the first instance still fresh. Lifetime expiry reads creation order,
a second ``OrderedDict`` kept only when ``max_lifetime`` is set. Instances with a turn in flight
are skipped, never evicted; there are at most as many of those as concurrent turns.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import timedelta
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from sessionful.keys import SessionKey

__all__ = ["CleanupReport", "Duration", "LifecyclePolicy", "parse_duration"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_WITH_UNIT = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([smhdw])")


def parse_duration(value: Any) -> Any:
    """A duration as seconds: ``timedelta``, or text with a unit (``90s``, ``30m``, ``12h``,
    ``7d``, ``2w``, ``1.5h``). Numbers, and text that is a plain number (``"3600"``), come back as
    they are for the field to check (a number of seconds); other text raises ``ValueError``.

    The one parser of durations: the configuration file, the ``SESSIONFUL_*`` variables and the
    command line's ``--older-than`` all read durations with it.
    """
    if isinstance(value, timedelta):
        return value.total_seconds()
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    found = _WITH_UNIT.fullmatch(text)
    if found is not None:
        return float(found.group(1)) * _UNITS[found.group(2)]
    try:
        float(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a duration: give seconds (3600) or a number with s, m, h, d or w "
            "(30m, 12h, 7d)"
        ) from None
    return value


Duration = Annotated[
    float, BeforeValidator(parse_duration), Field(json_schema_extra={"x-duration": True})
]
"""Seconds, given as a number, a ``timedelta`` or text with a unit (see :func:`parse_duration`)."""
Seconds = Annotated[Duration, Field(gt=0)]


class LifecyclePolicy(BaseModel):
    """When live instances are unloaded. Durations are seconds (float), ``timedelta``, or text
    with a unit (``"30m"``, ``"12h"``, ``"7d"``).

    ``None`` switches a limit off (in a TOML file, which has no null: ``"off"``). Unloading
    (eviction) keeps a persisted session's state; ending a session deletes it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    idle_timeout: Seconds | None = 1800.0
    """Unload an instance this long after its last turn finished."""
    max_lifetime: Seconds | None = None
    """Unload an instance this long after it was created, however busy its session."""
    max_active: Annotated[int, Field(ge=1)] | None = 10_000
    """At most this many live instances; a new one evicts the least recently used idle one."""
    sweep_interval: Seconds | None = 60.0
    """How often the background sweeper runs inside ``async with manager``; ``None``: never
    (call ``cleanup_inactive()`` yourself)."""
    retention: Seconds | None = None
    """``persisted`` only: delete stored sessions idle longer than this, ``retention_batch`` at
    a time per sweep, so the database stops growing. ``None``: keep them."""
    retention_batch: Annotated[int, Field(ge=1)] = 500

    @field_validator(
        "idle_timeout", "max_lifetime", "max_active", "sweep_interval", "retention", mode="before"
    )
    @classmethod
    def _off(cls, value: Any) -> Any:
        # TOML has no null: a configuration file says "off" to switch a limit off.
        return (
            None if isinstance(value, str) and value.strip().lower() in ("off", "none") else value
        )

    def __init__(
        self,
        idle_timeout: float | timedelta | None = 1800.0,
        max_lifetime: float | timedelta | None = None,
        max_active: int | None = 10_000,
        sweep_interval: float | timedelta | None = 60.0,
        retention: float | timedelta | None = None,
        retention_batch: int = 500,
        **unknown: Any,
    ) -> None:
        # pydantic routes model_validate() through this __init__ too; passing unknown fields on
        # lets extra="forbid" reject them with a ValidationError rather than a TypeError.
        super().__init__(
            idle_timeout=idle_timeout,
            max_lifetime=max_lifetime,
            max_active=max_active,
            sweep_interval=sweep_interval,
            retention=retention,
            retention_batch=retention_batch,
            **unknown,
        )


class CleanupReport(BaseModel):
    """What one sweep did."""

    model_config = ConfigDict(frozen=True)

    expired_idle: list[SessionKey] = Field(default_factory=list)
    expired_lifetime: list[SessionKey] = Field(default_factory=list)
    skipped_busy: int = 0
    """Expired instances left alone because a turn was in flight; the next sweep retries."""
    failed: dict[str, str] = Field(default_factory=dict)
    """Session key -> error of a ``destroy_agent`` that raised; the instance is unloaded anyway."""
    purged: list[SessionKey] = Field(default_factory=list)
    """Stored sessions deleted by the retention policy in this sweep."""

    @property
    def expired(self) -> int:
        """How many instances this sweep unloaded."""
        return len(self.expired_idle) + len(self.expired_lifetime)


Expiry = Literal["idle", "lifetime"]
"""Why the index found an entry expired."""


class Timed(Protocol):
    """What the index needs of an entry."""

    @property
    def born(self) -> float: ...
    @property
    def last_activity(self) -> float: ...
    @property
    def busy(self) -> bool: ...


E = TypeVar("E", bound=Timed)


class ExpiryIndex(Generic[E]):
    """Live entries by key, in least-recently-used order, plus creation order when needed."""

    __slots__ = ("_by_birth", "_lru", "idle_timeout", "max_lifetime")

    def __init__(self, policy: LifecyclePolicy) -> None:
        self.idle_timeout = policy.idle_timeout
        self.max_lifetime = policy.max_lifetime
        self._lru: OrderedDict[SessionKey, E] = OrderedDict()
        self._by_birth: OrderedDict[SessionKey, E] | None = (
            OrderedDict() if policy.max_lifetime is not None else None
        )

    def __len__(self) -> int:
        return len(self._lru)

    def get(self, key: SessionKey) -> E | None:
        return self._lru.get(key)

    def keys(self) -> list[SessionKey]:
        """Live keys, least recently used first."""
        return list(self._lru)

    def add(self, key: SessionKey, entry: E) -> None:
        self._lru[key] = entry
        if self._by_birth is not None:
            self._by_birth[key] = entry

    def touch(self, key: SessionKey) -> None:
        """Mark ``key`` most recently used (call when its turn finishes)."""
        self._lru.move_to_end(key)

    def discard(self, key: SessionKey) -> E | None:
        entry = self._lru.pop(key, None)
        if entry is not None and self._by_birth is not None:
            del self._by_birth[key]
        return entry

    def lru_idle(self) -> tuple[SessionKey, E] | None:
        """The least recently used entry without a turn in flight, or ``None``."""
        for key, entry in self._lru.items():
            if not entry.busy:
                return key, entry
        return None

    def expired(self, now: float) -> tuple[list[tuple[SessionKey, E, Expiry]], int]:
        """Expired entries as ``(key, entry, reason)``, and how many expired ones were busy.

        Walks only the expired prefix of each order (plus the busy entries inside it); the caller
        discards what it unloads.
        """
        found: dict[SessionKey, tuple[SessionKey, E, Expiry]] = {}
        busy: set[SessionKey] = set()
        orders: list[tuple[OrderedDict[SessionKey, E], float, Expiry, bool]] = []
        if self.idle_timeout is not None:
            orders.append((self._lru, now - self.idle_timeout, "idle", False))
        if self._by_birth is not None and self.max_lifetime is not None:
            orders.append((self._by_birth, now - self.max_lifetime, "lifetime", True))
        for order, cutoff, reason, by_birth in orders:
            for key, entry in order.items():
                if (entry.born if by_birth else entry.last_activity) > cutoff:
                    break
                if entry.busy:
                    busy.add(key)
                elif key not in found:
                    found[key] = (key, entry, reason)
        return list(found.values()), len(busy)
