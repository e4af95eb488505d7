"""Tracing (extra ``otel``): a span per turn from the lifecycle hooks, in the SDK and over real
HTTP, parented to the caller's W3C ``traceparent``; ``[tracing]`` in the configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sessionful import ChatMessage, ExecuteAgentCommand, SessionManager
from sessionful.otel import TurnTracer, build_tracer_provider
from support import BOT, Make
from support import server as servers
from support.threaded import serving

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def turns_of(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name.startswith("invoke_agent")]


def events_of(span: ReadableSpan) -> list[str]:
    return [event.name for event in span.events]


def say(text: str, session_id: str = "s1") -> ExecuteAgentCommand:
    return ExecuteAgentCommand(
        agent_id=BOT, session_id=session_id, messages=[ChatMessage.user(text)]
    )


# -- the SDK ------------------------------------------------------------------------------------


async def test_a_span_per_turn_with_creation_restore_and_eviction(
    make_manager: Make, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    manager: SessionManager = make_manager(
        strategy="persisted", store="memory://", plugins=[TurnTracer(provider)]
    )
    tracer = provider.get_tracer("test")
    async with manager:
        with tracer.start_as_current_span("request") as parent:
            await manager.execute(say("hello there"))
        await manager.execute(say("again"))
        await manager.evict(manager.key_for(BOT, "s1"))
        await manager.execute(say("back"))

    first, second, third = turns_of(exporter)
    assert first.name == f"invoke_agent {BOT}"
    attributes = dict(first.attributes or {})
    assert attributes["sessionful.agent_id"] == BOT
    assert attributes["sessionful.session_key"] == f"{BOT}#s1"
    assert attributes["sessionful.session_id"] == "s1"
    assert attributes["sessionful.instance_event"] == "created"
    assert attributes["sessionful.turn.status"] == "completed"
    assert attributes["sessionful.turn.messages"] == 1
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.usage.input_tokens"] == 2  # the stub counts words
    assert attributes["gen_ai.usage.output_tokens"] == 4  # "echo #1: hello there"
    assert float(attributes["sessionful.turn.duration"]) >= 0  # type: ignore[arg-type]
    assert events_of(first) == ["sessionful.session.created"]
    assert first.parent is not None
    assert first.parent.span_id == parent.get_span_context().span_id
    assert first.context.trace_id == parent.get_span_context().trace_id
    assert first.start_time is not None and first.end_time is not None
    assert first.start_time <= first.end_time

    assert (second.attributes or {})["sessionful.instance_event"] == "reused"
    assert events_of(second) == []
    assert second.parent is None  # no span was current

    assert (third.attributes or {})["sessionful.instance_event"] == "restored"
    assert events_of(third) == ["sessionful.session.restored"]

    evictions = [s for s in exporter.get_finished_spans() if s.name == f"evict {BOT}"]
    reasons = [(s.attributes or {})["sessionful.evict.reason"] for s in evictions]
    assert reasons == ["evicted", "shutdown"]  # the explicit one, then the manager's close
    assert all(events_of(s) == ["sessionful.session.evicted"] for s in evictions)


async def test_an_interrupted_turn_says_so_and_names_its_interrupts(
    make_manager: Make, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    manager: SessionManager = make_manager(plugins=[TurnTracer(provider)])
    async with manager:
        result = await manager.execute(say("ask: which order?"))
    assert result.status == "interrupted"
    (span,) = turns_of(exporter)
    assert (span.attributes or {})["sessionful.turn.status"] == "interrupted"
    assert events_of(span) == ["sessionful.session.created", "sessionful.turn.interrupted"]
    interrupted = span.events[-1]
    assert list((interrupted.attributes or {})["sessionful.interrupt.ids"]) == [  # type: ignore[arg-type]
        result.interrupts[0].id
    ]


def test_the_exporters_build_and_an_unknown_one_is_refused() -> None:
    assert build_tracer_provider("global") is None
    for name in ("otlp", "console"):
        provider = build_tracer_provider(name, service_name="svc")
        assert isinstance(provider, TracerProvider)
        assert provider.resource.attributes["service.name"] == "svc"
        provider.shutdown()
    with pytest.raises(ValueError, match="unknown exporter"):
        build_tracer_provider("zipkin")


# -- over HTTP ----------------------------------------------------------------------------------


def _settings(**overrides: Any) -> Any:
    from sessionful.service.config import Settings

    values: dict[str, Any] = {
        "strategy": "persisted",
        "store": "memory://",
        "agents": [{"id": "echo", "framework": "stub", "template_id": "echo"}],
        "auth": {"api_keys": {servers.KEYS[servers.ALICE]: servers.ALICE}},
    }
    values.update(overrides)
    return Settings.model_validate(values)


def test_a_turn_over_http_is_a_child_of_the_callers_traceparent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    from sessionful.service.http import create_app

    app = create_app(_settings(), plugins=[TurnTracer(provider)])
    headers = {**servers.auth(servers.ALICE), "traceparent": TRACEPARENT}
    with serving(app) as url, httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        created = client.post("/v1/agents/echo/sessions")
        assert created.status_code == 201, created.text
        session_id = created.json()["session_id"]
        path = f"/v1/agents/echo/sessions/{session_id}/messages"
        message = {"messages": [{"role": "user", "content": "hi"}]}
        assert client.post(path, json=message).status_code == 200
        streamed = client.post(f"{path}/stream", json=message)
        assert streamed.status_code == 200
        assert "event: done" in streamed.text
        untraced = client.post(path, json=message, headers={"traceparent": ""})
        assert untraced.status_code == 200

    spans = turns_of(exporter)
    assert len(spans) == 3
    for span in spans[:2]:  # the JSON turn and the streamed one
        assert span.parent is not None and span.parent.is_remote
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert format(span.parent.span_id, "016x") == PARENT_ID
        assert (span.attributes or {})["sessionful.session_id"] == session_id
    # The session's instance was made by the POST that created it; its first turn shows that.
    assert [(s.attributes or {})["sessionful.instance_event"] for s in spans] == ["reused"] * 3
    assert [events_of(s) for s in spans] == [["sessionful.session.created"], [], []]
    assert spans[2].parent is None  # no traceparent: a root span
    assert format(spans[2].context.trace_id, "032x") != TRACE_ID


def test_tracing_is_enabled_by_the_configuration(tmp_path: Path) -> None:
    """``[tracing] enabled = true`` in the file of a real server: the console exporter prints
    the turn's span, in the caller's trace."""
    config = tmp_path / "sessionful.toml"
    text = servers.config_text(tmp_path / "s.db", langgraph=False)
    config.write_text(text + '\n[tracing]\nenabled = true\nexporter = "console"\n')
    server = servers.start(config)
    try:
        with server.client(servers.ALICE, headers={"traceparent": TRACEPARENT}) as client:
            session_id = client.post("/v1/agents/echo/sessions").json()["session_id"]
            message = {"messages": [{"role": "user", "content": "hi"}]}
            turn = client.post(f"/v1/agents/echo/sessions/{session_id}/messages", json=message)
            assert turn.status_code == 200
    finally:
        assert server.stop() == 0
    log = server.log_text()
    assert '"name": "invoke_agent echo"' in log
    assert f'"trace_id": "0x{TRACE_ID}"' in log
    assert f'"parent_id": "0x{PARENT_ID}"' in log


def test_tracing_without_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from sessionful import ConfigurationError
    from sessionful.service.http import create_app

    monkeypatch.delitem(sys.modules, "sessionful.otel")
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if the extra were missing
    with pytest.raises(ConfigurationError, match=r"sessionful\[otel\]"):
        create_app(_settings(tracing={"enabled": True}))


def test_the_global_provider_is_used_by_default() -> None:
    assert TurnTracer().tracer_provider is None
    assert trace.get_tracer_provider() is not None
