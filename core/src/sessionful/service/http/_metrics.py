"""Prometheus metrics fed by the lifecycle hooks, in a registry of their own.

:class:`ServiceMetrics` is an sessionful plugin: the service hands it to every manager, and its
``@hookimpl`` methods count what the managers do. Each app gets its own
:class:`~prometheus_client.CollectorRegistry`, so two apps in one process never share a series.
Labels are bounded: agent ids come from the configuration (a turn for an unknown agent never
reaches a hook), and principals and session ids are never labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    generate_latest,
)

from sessionful.hookspecs import hookimpl
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage, ExecutionResult, Interrupt, SessionStats

__all__ = ["TURN_BUCKETS", "ServiceMetrics"]

TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Turn latency histogram buckets, in seconds: from a stub's microseconds to a slow model."""


class ServiceMetrics:
    """The service's metrics; ``render()`` is the ``/metrics`` body."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}
        self.active = Gauge(
            "sessionful_active_sessions",
            "Agent instances live in this process.",
            ["agent_id"],
            registry=r,
        )
        self.created = Counter(
            "sessionful_sessions_created",
            "Agent instances created for a new session.",
            ["agent_id"],
            registry=r,
        )
        self.restored = Counter(
            "sessionful_sessions_restored",
            "Agent instances rebuilt from the store (after an eviction, a restart, a takeover).",
            ["agent_id"],
            registry=r,
        )
        self.reused = Counter(
            "sessionful_sessions_reused",
            "Turns that found their session's agent instance live.",
            ["agent_id"],
            registry=r,
        )
        self.evicted = Counter(
            "sessionful_sessions_evicted",
            "Agent instances unloaded (idle, lifetime, capacity, evicted, shutdown, lease-lost).",
            ["agent_id", "reason"],
            registry=r,
        )
        self.ended = Counter(
            "sessionful_sessions_ended",
            "Sessions ended explicitly.",
            ["agent_id"],
            registry=r,
        )
        self.turns = Histogram(
            "sessionful_turn_duration_seconds",
            "Seconds per completed turn, by how the turn found its instance.",
            ["agent_id", "instance_event"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.interrupted = Counter(
            "sessionful_turns_interrupted",
            "Turns that stopped to ask something (interrupts waiting for a resume).",
            ["agent_id"],
            registry=r,
        )
        self.tokens = Counter(
            "sessionful_tokens",
            "Tokens the agents' turns used, as their frameworks report them, by direction "
            "(input, output).",
            ["agent_id", "direction"],
            registry=r,
        )
        self.feedback = Summary(
            "sessionful_feedback_rating",
            "Ratings recorded for sessions (POST .../feedback): _count is how many, _sum their "
            "total (the mean is _sum / _count).",
            ["agent_id"],
            registry=r,
        )
        self.requests = Counter(
            "sessionful_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=r,
        )

        self.affinity_hits = Counter(
            "sessionful_affinity_hits",
            "Requests about a session served by its owner (this instance).",
            registry=r,
        )
        self.affinity_misses = Counter(
            "sessionful_affinity_misses",
            "Requests about a session another live instance owns, served here anyway.",
            registry=r,
        )
        self.cluster_nodes = Gauge(
            "sessionful_cluster_nodes",
            "Live instances in the cluster, as this instance last read them (itself included).",
            registry=r,
        )
        self.cluster_nodes.set(1)

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once per label set: the per-turn metrics are
        updated on every request, and ``labels`` validates and locks on every call."""
        key = (metric, values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def observe_turn(self, agent_id: str, result: ExecutionResult) -> None:
        """Count the tokens of a turn the service answered (its ``usage``)."""
        usage = result.usage
        if usage is None:
            return
        if usage.input_tokens:
            self.child(self.tokens, agent_id, "input").inc(usage.input_tokens)
        if usage.output_tokens:
            self.child(self.tokens, agent_id, "output").inc(usage.output_tokens)

    def observe_feedback(self, agent_id: str, rating: float) -> None:
        """Count a rating the service recorded."""
        self.feedback.labels(agent_id).observe(rating)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    # -- lifecycle hooks --------------------------------------------------------------------

    @hookimpl
    def session_created(self, key: SessionKey) -> None:
        self.created.labels(key.agent_id).inc()
        self.active.labels(key.agent_id).inc()

    @hookimpl
    def session_restored(self, key: SessionKey) -> None:
        self.restored.labels(key.agent_id).inc()
        self.active.labels(key.agent_id).inc()

    @hookimpl
    def session_reused(self, key: SessionKey) -> None:
        self.child(self.reused, key.agent_id).inc()

    @hookimpl
    def session_evicted(self, key: SessionKey, reason: str) -> None:
        self.evicted.labels(key.agent_id, reason).inc()
        self.active.labels(key.agent_id).dec()

    @hookimpl
    def session_ended(self, key: SessionKey, stats: SessionStats | None) -> None:
        self.ended.labels(key.agent_id).inc()
        if stats is not None:  # it had a live instance, now destroyed
            self.active.labels(key.agent_id).dec()

    @hookimpl
    def turn_completed(
        self, key: SessionKey, messages: Sequence[ChatMessage], duration: float, instance_event: str
    ) -> None:
        self.child(self.turns, key.agent_id, instance_event).observe(max(0.0, duration))

    @hookimpl
    def turn_interrupted(self, key: SessionKey, interrupts: Sequence[Interrupt]) -> None:
        self.interrupted.labels(key.agent_id).inc()
