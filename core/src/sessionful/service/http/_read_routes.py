"""The routes that read: the caller's sessions (listed and filtered), the agents, one
session, its history; and the end user's rating of a session."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request

from sessionful.keys import MAX_ID_LENGTH
from sessionful.service.app import SessionFilter
from sessionful.service.http._deps import (
    _ID_PATTERN,
    AgentId,
    Principal,
    SessionId,
    _errors,
    _metrics,
    _service,
)
from sessionful.service.http._errors import ApiError, agent_call
from sessionful.service.http._requests import feedback_request, unix_seconds
from sessionful.service.http._responses import (
    AgentList,
    FeedbackRecorded,
    HistoryResponse,
    SessionDetail,
    SessionList,
    agent_info,
    analytics,
    summary,
)

__all__ = ["add_read_routes"]


def _labels(pairs: list[str] | None) -> dict[str, str] | None:
    """``["channel:web", ...]`` as a dict; 422 for a pair without ``:``."""
    if not pairs:
        return None
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep or not name:
            raise ApiError(422, "invalid_request", f"label {pair!r}: a label filter is name:value")
        labels[name] = value
    return labels


def _service_settings(app: FastAPI) -> Any:
    return app.state.service.settings


def _check_text(value: str, what: str) -> None:
    """422 for text with control characters (no stored value holds them)."""
    for char in value:
        if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or 0xD800 <= ord(char) <= 0xDFFF:
            raise ApiError(
                422,
                "invalid_request",
                f"{what}: holds the forbidden character U+{ord(char):04X}",
            )


def add_read_routes(app: FastAPI) -> None:
    """Listings, a session's view and history, and feedback, on ``app``."""

    @app.get(
        "/v1/sessions",
        response_model=SessionList,
        responses=_errors(401, 422, 503),
        summary="List your sessions",
        tags=["sessions"],
    )
    async def list_sessions(
        request: Request,
        principal: Principal,
        after: Annotated[
            str | None,
            Query(
                max_length=4 * MAX_ID_LENGTH,
                pattern=_ID_PATTERN,
                description="The previous page's `next_after`.",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500, description="Sessions per page.")] = 50,
        agent_id: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_ID_LENGTH,
                pattern=_ID_PATTERN,
                description="Only this agent's sessions.",
            ),
        ] = None,
        user_id: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_ID_LENGTH,
                pattern=_ID_PATTERN,
                description="Only this end user's sessions.",
            ),
        ] = None,
        label: Annotated[
            list[str] | None,
            Query(
                max_length=64,
                description="Only sessions with this label, as `name:value`; repeat for "
                "several (a session must carry them all).",
            ),
        ] = None,
        active_after: Annotated[
            datetime | None,
            Query(description="Only sessions active at or after this time (RFC 3339)."),
        ] = None,
        active_before: Annotated[
            datetime | None,
            Query(description="Only sessions last active before this time (RFC 3339)."),
        ] = None,
    ) -> SessionList:
        """The caller's stored sessions, ordered by id, a page at a time (pass `next_after` as
        `after`), filtered by agent, end user, labels and activity window (``persisted``
        strategy: other strategies store nothing to list)."""
        for text in label or ():
            _check_text(text, "label")
        service = _service(request)
        where = SessionFilter(
            agent_id=agent_id,
            user_id=user_id,
            labels=_labels(label),
            active_after=None if active_after is None else unix_seconds(active_after),
            active_before=None if active_before is None else unix_seconds(active_before),
        )
        page = await service.list_sessions(principal, after=after, limit=limit, where=where)
        return SessionList(
            sessions=[summary(record) for record in page.sessions],
            next_after=page.next_after,
            store=service.store_name(),
        )

    @app.get(
        "/v1/agents",
        response_model=AgentList,
        responses=_errors(401),
        summary="List the agents",
        tags=["agents"],
    )
    async def list_agents(request: Request, principal: Principal) -> AgentList:
        """The agents this service runs: id, name, template and version, framework."""
        service = _service(request)
        return AgentList(agents=[agent_info(agent) for agent in service.agents.values()])

    @app.get(
        "/v1/agents/{agent_id}/sessions/{session_id}",
        response_model=SessionDetail,
        responses=_errors(401, 404, 422, 500, 503),
        summary="Show a session",
        tags=["sessions"],
    )
    async def get_session(
        request: Request, agent_id: AgentId, session_id: SessionId, principal: Principal
    ) -> SessionDetail:
        """A session's analytics, its pending interrupts, its token totals, its end user,
        labels and feedback, and its whole history (``.../history`` pages it)."""
        service = _service(request)
        view = await service.get_session(principal, agent_id, session_id)
        input_tokens, output_tokens = view.tokens
        record = view.record
        stats = None if view.stats is None else analytics(view.stats, service.clock, record)
        if record is not None:
            count, mean = record.feedback_count, record.feedback_mean
        elif view.stats is not None:
            count, mean = view.stats.feedback_count, view.stats.feedback_mean
        else:
            count, mean = 0, None
        return SessionDetail(
            agent_id=agent_id,
            session_id=session_id,
            loaded=view.loaded,
            stats=stats,
            stored=summary(record) if record is not None else None,
            user_id=record.user_id if record is not None else None,
            labels=record.labels if record is not None else {},
            feedback_count=count,
            feedback_mean=mean,
            interrupts=view.interrupts,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            history=view.history,
        )

    @app.get(
        "/v1/agents/{agent_id}/sessions/{session_id}/history",
        response_model=HistoryResponse,
        responses=_errors(401, 404, 422, 500, 502, 503),
        summary="Page through a session's history",
        tags=["sessions"],
    )
    async def get_history(
        request: Request,
        agent_id: AgentId,
        session_id: SessionId,
        principal: Principal,
        limit: Annotated[int, Query(ge=1, le=1000, description="Messages per page.")] = 100,
        after: Annotated[
            int,
            Query(ge=0, le=2**53, description="The previous page's `next_after` (0: the start)."),
        ] = 0,
        checkpoints: Annotated[
            bool,
            Query(
                description="Also return the session's saved states, newest first (at most "
                "`limit`): LangGraph's checkpoints; `[]` for frameworks that keep none."
            ),
        ] = False,
    ) -> HistoryResponse:
        """The session's messages, oldest first, a page at a time; with `checkpoints=true`,
        its saved states too."""
        service = _service(request)
        page = await service.history(principal, agent_id, session_id, limit=limit, after=after)
        states = None
        if checkpoints:
            states = await agent_call(
                service.state_history(principal, agent_id, session_id, limit=limit),
                "reading checkpoints",
            )
        return HistoryResponse(
            agent_id=agent_id,
            session_id=session_id,
            messages=page.messages,
            next_after=page.next_after,
            checkpoints=states,
        )

    scale = _service_settings(app).feedback
    FeedbackRequest = feedback_request(scale.min_rating, scale.max_rating, scale.max_comment_chars)

    async def post_feedback(
        request: Request,
        agent_id: AgentId,
        session_id: SessionId,
        principal: Principal,
        body: Any,
    ) -> FeedbackRecorded:
        """Record the end user's rating of the session (the configuration's `[feedback]`
        scale, default 1 to 5; `"up"` / `"down"` are its ends), an optional comment and the
        turn it refers to. Stored with the session and deleted with it; the session's GET
        shows the count and mean, and `/metrics` has `sessionful_feedback_rating` by agent."""
        given = body
        service = _service(request)
        rating, count, mean = await service.record_feedback(
            principal,
            agent_id,
            session_id,
            given.rating,
            comment=given.comment,
            turn=given.turn,
        )
        _metrics(request).observe_feedback(agent_id, rating)
        return FeedbackRecorded(
            agent_id=agent_id,
            session_id=session_id,
            rating=rating,
            feedback_count=count,
            feedback_mean=mean,
        )

    # The body's model is built from the configured scale, so it is set here, not annotated
    # (annotations are strings under `from __future__ import annotations`).
    post_feedback.__annotations__["body"] = FeedbackRequest
    app.post(
        "/v1/agents/{agent_id}/sessions/{session_id}/feedback",
        status_code=201,
        response_model=FeedbackRecorded,
        responses=_errors(401, 404, 413, 422, 500, 503),
        summary="Rate a session",
        tags=["sessions"],
    )(post_feedback)
