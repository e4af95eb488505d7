"""The sessions console: a browser app at ``/ui``, and the one read-only JSON view it needs that
the API has no route for.

The app is static files in this package (``ui/``: HTML, CSS and JavaScript modules; nothing
fetched from elsewhere, nothing built at install time). It talks to the API itself with the key
the user types on its login screen, kept in the tab's ``sessionStorage``: the files need no
authentication, the data behind them does, exactly as for any other client.

``GET /ui/api/whoami`` says whether the API needs a key and whether the one sent is good (always
200, so a wrong key logs no error in the browser). ``GET /ui/api/overview`` is the service at a
glance for the overview page: the configured agents, the cluster's live members, this process's
counters (live instances, creations, reuses, restores, ends, evictions by reason, turns and their
latency, tokens) read from the same Prometheus registry as ``/metrics``, and which of the caller's
own sessions are live here and who owns them. ``GET /ui/api/owners`` names the owners of session
ids. All are authenticated like the API, and never name another principal's session.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from sessionful.keys import MAX_ID_LENGTH
from sessionful.service.app import AgentService
from sessionful.service.http._deps import _API_KEY, _BEARER, Principal, _principal
from sessionful.service.http._errors import ApiError
from sessionful.service.http._metrics import ServiceMetrics
from sessionful.service.membership import LocalMembership

__all__ = ["UI_DIR", "add_console"]

UI_DIR = Path(__file__).with_name("ui")
"""The console's files."""

_HEADERS = {
    # Everything from this origin; images in messages may be data: URLs or links elsewhere.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob: https: http:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _ConsoleFiles(StaticFiles):
    """The console's files, each with its security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response


def _samples(metrics: ServiceMetrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in metrics.registry.collect():
        for sample in family.samples:
            found[sample.name].append((dict(sample.labels), float(sample.value)))
    return found


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """A quantile estimated from cumulative histogram buckets (upper bound, count), as
    Prometheus's ``histogram_quantile`` does: linear within the bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _counters(metrics: ServiceMetrics, agents: list[str]) -> dict[str, dict[str, Any]]:
    """This process's counters by agent, from the metrics registry."""
    samples = _samples(metrics)
    out: dict[str, dict[str, Any]] = {
        agent: {
            "active": 0,
            "created": 0,
            "reused": 0,
            "restored": 0,
            "ended": 0,
            "interrupted": 0,
            "evicted": {},
            "turns": 0,
            "turn_seconds": 0.0,
            "turn_p50": None,
            "turn_p95": None,
            "input_tokens": 0,
            "output_tokens": 0,
        }
        for agent in agents
    }

    def add(agent: str | None, field: str, value: float) -> None:
        if agent in out:
            out[agent][field] += value

    for labels, value in samples.get("sessionful_active_sessions", []):
        add(labels.get("agent_id"), "active", value)
    for name, field in (
        ("sessionful_sessions_created_total", "created"),
        ("sessionful_sessions_reused_total", "reused"),
        ("sessionful_sessions_restored_total", "restored"),
        ("sessionful_sessions_ended_total", "ended"),
        ("sessionful_turns_interrupted_total", "interrupted"),
        ("sessionful_turn_duration_seconds_count", "turns"),
        ("sessionful_turn_duration_seconds_sum", "turn_seconds"),
    ):
        for labels, value in samples.get(name, []):
            add(labels.get("agent_id"), field, value)
    for labels, value in samples.get("sessionful_sessions_evicted_total", []):
        agent = labels.get("agent_id")
        if agent in out:
            reasons = out[agent]["evicted"]
            reason = labels.get("reason", "")
            reasons[reason] = reasons.get(reason, 0) + value
    for labels, value in samples.get("sessionful_tokens_total", []):
        add(labels.get("agent_id"), f"{labels.get('direction')}_tokens", value)
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in samples.get("sessionful_turn_duration_seconds_bucket", []):
        agent = labels.get("agent_id", "")
        buckets[agent][float(labels.get("le", "inf"))] += value
    for agent, by_bound in buckets.items():
        if agent in out:
            ordered = sorted(by_bound.items())
            out[agent]["turn_p50"] = _quantile(ordered, 0.5)
            out[agent]["turn_p95"] = _quantile(ordered, 0.95)
    for counts in out.values():  # counters are whole numbers
        for field in ("active", "created", "reused", "restored", "ended", "interrupted", "turns"):
            counts[field] = int(counts[field])
        counts["evicted"] = {k: int(v) for k, v in sorted(counts["evicted"].items())}
    return out


def add_console(app: FastAPI) -> None:
    """The console at ``/ui`` (``/ui`` itself redirects to ``/ui/``) and its overview JSON."""

    @app.get("/ui", include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=308)

    @app.get("/ui/api/whoami", include_in_schema=False)
    async def console_whoami(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
        api_key: Annotated[str | None, Depends(_API_KEY)],
    ) -> dict[str, Any]:
        """Whether the API needs a key, and whom the key sent (if any) stands for: always 200,
        so the login screen checks a key without an error in the browser's console."""
        try:
            await _principal(request, None, None)
            required = False
        except ApiError:
            required = True
        try:
            principal: str | None = await _principal(request, bearer, api_key)
        except ApiError:
            principal = None
        return {
            "auth_required": required,
            "authenticated": principal is not None,
            "principal": principal,
        }

    @app.get("/ui/api/overview", include_in_schema=False)
    async def console_overview(request: Request, principal: Principal) -> dict[str, Any]:
        service: AgentService = request.app.state.service
        metrics: ServiceMetrics = request.app.state.metrics
        membership: LocalMembership = request.app.state.membership
        agents = [
            {
                "id": agent.id,
                "name": agent.name,
                "framework": agent.framework,
                "template_id": agent.template_id,
                "template_version": agent.template_version,
            }
            for agent in service.agents.values()
        ]
        live: list[dict[str, Any]] = []
        for manager in service.managers.values():
            for key in manager.list_agents():
                if key.namespace == principal and key.session_id is not None:
                    live.append(
                        {
                            "agent_id": key.agent_id,
                            "session_id": key.session_id,
                            "owner": membership.owner(key.session_id),
                        }
                    )
        live.sort(key=lambda item: (item["agent_id"], item["session_id"]))
        return {
            "time": time.time(),
            "strategy": service.settings.strategy,
            "node_id": membership.node_id,
            "members": [
                {"node_id": node, "address": address, "self": node == membership.node_id}
                for node, address in sorted(membership.live().items())
            ],
            "agents": agents,
            "counters": _counters(metrics, list(service.agents)),
            "live_sessions": live,
        }

    @app.get("/ui/api/owners", include_in_schema=False)
    async def console_owners(
        request: Request,
        principal: Principal,
        session_id: Annotated[
            list[str], Query(max_length=200, description="Session ids to name the owner of.")
        ],
    ) -> dict[str, str]:
        membership: LocalMembership = request.app.state.membership
        return {sid: membership.owner(sid) for sid in session_id if 0 < len(sid) <= MAX_ID_LENGTH}

    app.mount("/ui", _ConsoleFiles(directory=UI_DIR, html=True), name="console")
