"""Live instances: single-flight get-or-create, the per-session turn gate, per-session counters.

Everything here runs on one event loop; the only awaits are on the create callback and on gate
futures, so state changes between them are atomic.
"""

from __future__ import annotations

import asyncio
from array import array
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sessionful.errors import SessionBusy
from sessionful.factory import AgentInstance
from sessionful.keys import SessionKey
from sessionful.lifecycle import ExpiryIndex, LifecyclePolicy
from sessionful.models import Interrupt, SessionStats, built

__all__ = ["RESPONSE_WINDOW", "Entry", "Registry"]

RESPONSE_WINDOW = 64
"""How many of the latest turn durations the p95 is computed over."""

InstanceT = TypeVar("InstanceT", bound=AgentInstance)


class Entry(Generic[InstanceT]):
    """One live instance and what the manager knows of its session. Slotted: one per session."""

    __slots__ = (
        "born",
        "busy",
        "closed",
        "created_at",
        "fb_count",
        "fb_sum",
        "instance",
        "key",
        "last_activity",
        "lease",
        "messages",
        "pending",
        "restored",
        "rt_next",
        "rt_recent",
        "rt_sorted",
        "rt_sum",
        "tokens_in",
        "tokens_out",
        "turns",
        "waiters",
    )

    def __init__(self, key: SessionKey, instance: InstanceT, now: float) -> None:
        self.key = key
        self.instance = instance
        self.created_at = now
        """When the session began (a restored one keeps its age), for its stats."""
        self.born = now
        """When this instance was made: ``max_lifetime`` counts from here."""
        self.last_activity = now
        self.busy = False
        self.waiters: deque[asyncio.Future[None]] | None = None
        self.closed = False
        self.turns = 0
        self.messages = 0
        self.rt_sum = 0.0
        self.rt_recent: array[float] | None = None
        """The latest turn durations, a ring of at most RESPONSE_WINDOW."""
        self.rt_sorted: list[float] | None = None
        """The same durations kept sorted, so the p95 is a lookup, not a sort per turn."""
        self.rt_next = 0
        self.restored = False
        """Rebuilt from the store rather than created empty."""
        self.tokens_in = 0
        self.tokens_out = 0
        self.pending: list[Interrupt] = []
        """Interrupts the session's next turn must answer."""
        self.fb_count = 0
        self.fb_sum = 0.0
        """Ratings recorded for the session (count and sum), for its stats."""
        self.lease: object | None = None
        """Opaque here: the persistence collaborator's lease on the session (``persisted``)."""

    def record_turn(self, started: float, finished: float, messages: int) -> None:
        elapsed = finished - started
        self.turns += 1
        self.messages += messages
        self.rt_sum += elapsed
        self.last_activity = finished
        recent, ordered = self.rt_recent, self.rt_sorted
        if recent is None or ordered is None:
            self.rt_recent, self.rt_sorted = array("d", (elapsed,)), [elapsed]
        elif len(recent) < RESPONSE_WINDOW:
            recent.append(elapsed)
            insort(ordered, elapsed)
        else:  # the ring is full: the oldest duration makes way
            oldest = recent[self.rt_next]
            recent[self.rt_next] = elapsed
            self.rt_next = (self.rt_next + 1) % RESPONSE_WINDOW
            del ordered[bisect_left(ordered, oldest)]
            insort(ordered, elapsed)

    def stats(self) -> SessionStats:
        ordered = self.rt_sorted
        p95 = None
        if ordered:
            # Nearest-rank percentile: the smallest value with at least 95% at or below it.
            p95 = ordered[max(0, -(-95 * len(ordered) // 100) - 1)]
        return built(
            SessionStats,
            {
                "message_count": self.messages,
                "turn_count": self.turns,
                "created_at": self.created_at,
                "last_activity": self.last_activity,
                "duration": self.last_activity - self.created_at,
                "response_time_mean": self.rt_sum / self.turns if self.turns else None,
                "response_time_p95": p95,
                "input_tokens": self.tokens_in,
                "output_tokens": self.tokens_out,
                "interrupts": self.pending,
                "feedback_count": self.fb_count,
                "feedback_mean": self.fb_sum / self.fb_count if self.fb_count else None,
            },
        )

    # The turn gate: a FIFO lock without a per-session Lock object, so an idle session costs
    # two slots. Ownership passes straight to the next waiter, so no newcomer can barge in.

    def try_enter(self) -> bool:
        if self.busy:
            return False
        self.busy = True
        return True

    async def enter(self, *, reject: bool) -> None:
        if not self.busy:
            self.busy = True
            return
        if reject:
            raise SessionBusy(self.key)
        if self.waiters is None:
            self.waiters = deque()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # we were handed the gate as we were cancelled: pass it on
            elif self.waiters is not None and waiter in self.waiters:
                # leave() may already have dropped our cancelled future (and the whole queue)
                # between the cancellation and this task running.
                self.waiters.remove(waiter)
            raise

    def leave(self) -> None:
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.waiters = None
        self.busy = False


E = Entry[AgentInstance]


class Registry:
    """Live entries by key with single-flight creation."""

    __slots__ = ("_creating", "index")

    def __init__(self, policy: LifecyclePolicy) -> None:
        self.index: ExpiryIndex[E] = ExpiryIndex(policy)
        self._creating: dict[SessionKey, asyncio.Future[E | None]] = {}

    @property
    def creating(self) -> int:
        """Creations in flight; they hold capacity like live instances."""
        return len(self._creating)

    def is_creating(self, key: SessionKey) -> bool:
        return key in self._creating

    async def get_or_create(
        self, key: SessionKey, create: Callable[[], Awaitable[E]]
    ) -> tuple[E, bool]:
        """The live entry for ``key`` and whether this call created it.

        Concurrent callers for one missing key share one ``create()``; if it raises, every one of
        them sees the error and nothing is cached. If the creating task is cancelled, the others
        retry (one of them creates).
        """
        while True:
            entry = self.index.get(key)
            if entry is not None:
                return entry, False
            pending = self._creating.get(key)
            if pending is not None:
                found = await asyncio.shield(pending)
                if found is not None:
                    return found, False
                continue
            future: asyncio.Future[E | None] = asyncio.get_running_loop().create_future()
            self._creating[key] = future
            try:
                entry = await create()
            except Exception as exc:
                del self._creating[key]
                future.set_exception(exc)
                future.exception()  # retrieved here, so an unawaited future logs nothing
                raise
            except BaseException:
                del self._creating[key]
                future.set_result(None)
                raise
            del self._creating[key]
            self.index.add(key, entry)
            future.set_result(entry)
            return entry, True

    async def wait_created(self, key: SessionKey) -> None:
        """Return once no creation for ``key`` is in flight (whatever its outcome)."""
        pending = self._creating.get(key)
        if pending is not None:
            await asyncio.wait([pending])

    async def wait_all_created(self) -> None:
        """Return once the creations in flight now have finished."""
        if self._creating:
            await asyncio.wait(list(self._creating.values()))
