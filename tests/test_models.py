"""The pydantic models: message constructors, commands, create requests, the lifecycle policy."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from sessionful import (
    AgentCreateRequest,
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    InvalidSessionKey,
    LifecyclePolicy,
    ManagerStats,
    SessionKey,
    SessionManager,
    SessionStats,
)
from sessionful.service.http._responses import TurnResponse, turn_response

# -- ChatMessage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "role"),
    [
        (ChatMessage.user, "user"),
        (ChatMessage.assistant, "assistant"),
        (ChatMessage.system, "system"),
        (ChatMessage.create_user_message, "user"),
    ],
)
def test_message_constructors_set_the_role(make: object, role: str) -> None:
    message = make("Hello")  # type: ignore[operator]
    assert message.role == role
    assert message.content == "Hello"
    assert message.name is None
    assert message.metadata == {}


def test_tool_message_carries_the_tool_name() -> None:
    message = ChatMessage.tool("42", name="calculator")
    assert (message.role, message.content, message.name) == ("tool", "42", "calculator")


def test_constructors_pass_extras_through() -> None:
    message = ChatMessage.user("hi", name="alice", metadata={"id": 7})
    assert message.name == "alice"
    assert message.metadata == {"id": 7}


def test_messages_are_frozen_and_strict() -> None:
    message = ChatMessage.user("hi")
    with pytest.raises(ValidationError):
        message.content = "changed"
    with pytest.raises(ValidationError):
        ChatMessage(role="robot", content="hi")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ChatMessage(role="user", content="hi", unknown=1)  # type: ignore[call-arg]


def test_message_json_round_trip() -> None:
    message = ChatMessage.tool("out", name="t", metadata={"call": [1, 2]})
    assert ChatMessage.model_validate_json(message.model_dump_json()) == message


_MAKERS = [ChatMessage.user, ChatMessage.assistant, ChatMessage.system]


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(codec=None, exclude_categories=())), which=st.integers(0, 2))
def test_a_plain_message_is_what_validation_makes(text: str, which: int) -> None:
    """``user``/``assistant``/``system`` with a string build the message without running the
    schema: it must equal, dump and carry the fields-set of its validated twin, and text with a
    lone surrogate must fail the same way."""
    make = _MAKERS[which]
    role = make.__name__
    try:
        twin = ChatMessage(role=role, content=text)  # type: ignore[arg-type]
    except ValidationError as expected:
        with pytest.raises(ValidationError) as raised:
            make(text)
        assert raised.value.errors(include_context=False) == expected.errors(include_context=False)
        return
    message = make(text)
    assert message == twin
    assert message.model_fields_set == twin.model_fields_set == {"role", "content"}
    assert message.model_dump_json() == twin.model_dump_json()
    assert message.model_dump(exclude_unset=True) == twin.model_dump(exclude_unset=True)
    assert repr(message) == repr(twin)
    changed = message.model_copy(update={"name": "n"})
    assert changed.model_fields_set == {"role", "content", "name"}
    assert make(text).model_fields_set == {"role", "content"}  # the shared set is untouched


def test_a_message_with_extras_or_blocks_is_validated() -> None:
    with pytest.raises(ValidationError):
        ChatMessage.user("hi", unknown=1)
    with pytest.raises(ValidationError):
        ChatMessage.user(7)  # type: ignore[arg-type]
    blocks = ChatMessage.user([{"type": "text", "text": "hi"}])  # type: ignore[arg-type]
    assert blocks.text == "hi"


# -- ExecuteAgentCommand ------------------------------------------------------------------------


def test_command_needs_at_least_one_message() -> None:
    with pytest.raises(ValidationError, match="messages"):
        ExecuteAgentCommand(agent_id="bot", session_id="s", messages=[])
    with pytest.raises(ValidationError):
        ExecuteAgentCommand(agent_id="bot", session_id="s")


def test_command_defaults() -> None:
    command = ExecuteAgentCommand(agent_id="bot", messages=[ChatMessage.user("hi")])
    assert command.session_id is None
    assert command.principal is None
    assert command.messages == [ChatMessage.user("hi")]


def test_command_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        ExecuteAgentCommand(
            agent_id="bot",
            messages=[ChatMessage.user("hi")],
            sesion_id="typo",  # type: ignore[call-arg]
        )


# -- AgentDefinition / AgentCreateRequest -------------------------------------------------------


def _agent(**extra: object) -> AgentDefinition:
    fields: dict[str, object] = {
        "id": "customer-service-bot",
        "name": "Customer service",
        "template_id": "echo",
        "template_version": "3",
        "configuration": {"temperature": 0},
        "metadata": {"team": "support"},
    }
    fields.update(extra)
    return AgentDefinition(**fields)  # type: ignore[arg-type]


def test_agent_definition_validates_its_id() -> None:
    with pytest.raises(ValidationError) as info:
        _agent(id="bad\x00id")
    assert isinstance(info.value.errors()[0]["ctx"]["error"], InvalidSessionKey)
    with pytest.raises(ValidationError):
        _agent(id="")
    assert AgentDefinition(id="a", name="A", template_id="t").template_version == "1"


def test_create_request_for_a_session() -> None:
    agent = _agent()
    key = SessionKey("customer-service-bot", "session-abc-123")
    request = AgentCreateRequest.for_session(agent, key)
    assert request.id == "customer-service-bot#session-abc-123"
    assert request.key == key
    assert request.name == "Customer service (Session: session-)"
    assert request.template_id == "echo"
    assert request.template_version == "3"
    assert request.configuration == {"temperature": 0}
    assert request.metadata == {
        "team": "support",
        "session_id": "session-abc-123",
        "base_agent_id": "customer-service-bot",
        "created_for_session": True,
    }


def test_create_request_name_uses_the_first_eight_characters() -> None:
    request = AgentCreateRequest.for_session(_agent(), SessionKey("customer-service-bot", "ab"))
    assert request.name == "Customer service (Session: ab)"


def test_create_request_without_a_session() -> None:
    request = AgentCreateRequest.for_session(_agent(), SessionKey("customer-service-bot"))
    assert request.id == "customer-service-bot"
    assert request.name == "Customer service"
    assert request.metadata["session_id"] is None
    assert request.metadata["created_for_session"] is False
    assert request.metadata["base_agent_id"] == "customer-service-bot"


def test_create_request_escapes_the_id_and_copies_configuration() -> None:
    agent = _agent()
    request = AgentCreateRequest.for_session(agent, SessionKey("customer-service-bot", "a#b"))
    assert request.id == "customer-service-bot#a\\#b"
    assert SessionKey.parse(request.id) == request.key
    request.configuration["temperature"] = 1
    assert agent.configuration == {"temperature": 0}  # the catalog entry is not aliased


def test_session_metadata_overrides_a_clashing_definition_key() -> None:
    agent = _agent(metadata={"session_id": "spoofed", "base_agent_id": "other"})
    request = AgentCreateRequest.for_session(agent, SessionKey("customer-service-bot", "real"))
    assert request.metadata["session_id"] == "real"
    assert request.metadata["base_agent_id"] == "customer-service-bot"


# -- LifecyclePolicy ----------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = LifecyclePolicy()
    assert policy.idle_timeout == 1800.0
    assert policy.max_lifetime is None
    assert policy.max_active == 10_000
    assert policy.sweep_interval == 60.0


def test_policy_accepts_timedelta_as_seconds() -> None:
    policy = LifecyclePolicy(
        idle_timeout=timedelta(minutes=30),
        max_lifetime=timedelta(hours=2),
        sweep_interval=timedelta(milliseconds=500),
    )
    assert policy.idle_timeout == 1800.0
    assert policy.max_lifetime == 7200.0
    assert policy.sweep_interval == 0.5


def test_policy_accepts_none_to_switch_limits_off() -> None:
    policy = LifecyclePolicy(
        idle_timeout=None, max_lifetime=None, max_active=None, sweep_interval=None
    )
    assert (policy.idle_timeout, policy.max_active, policy.sweep_interval) == (None, None, None)


@pytest.mark.parametrize("field", ["idle_timeout", "max_lifetime", "sweep_interval"])
@pytest.mark.parametrize("value", [0, -1, -0.5, timedelta(0), timedelta(seconds=-5)])
def test_policy_rejects_non_positive_durations(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        LifecyclePolicy(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -3])
def test_policy_rejects_non_positive_max_active(value: int) -> None:
    with pytest.raises(ValidationError, match="max_active"):
        LifecyclePolicy(max_active=value)


def test_policy_rejects_unknown_fields_with_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="max_idle"):
        LifecyclePolicy(idle_timeout=1, max_idle=5)
    with pytest.raises(ValidationError, match="max_idle"):
        LifecyclePolicy.model_validate({"idle_timeout": 1, "max_idle": 5})

    class ServerConfig(BaseModel):  # e.g. a request body or a config file section
        lifecycle: LifecyclePolicy

    with pytest.raises(ValidationError, match="max_idle"):
        ServerConfig.model_validate({"lifecycle": {"max_idle": 5}})
    assert ServerConfig.model_validate({"lifecycle": {"idle_timeout": 3}}).lifecycle == (
        LifecyclePolicy(idle_timeout=3)
    )


def test_policy_takes_positional_arguments() -> None:
    assert LifecyclePolicy(10, 20, 5, 1) == LifecyclePolicy(
        idle_timeout=10, max_lifetime=20, max_active=5, sweep_interval=1
    )


def test_policy_is_frozen() -> None:
    policy = LifecyclePolicy(idle_timeout=5)
    with pytest.raises(ValidationError):
        policy.idle_timeout = 10


def test_policy_validates_from_data_like_its_constructor() -> None:
    assert LifecyclePolicy.model_validate({"idle_timeout": 5}) == LifecyclePolicy(idle_timeout=5)
    with pytest.raises(ValidationError):
        LifecyclePolicy.model_validate({"idle_timeout": 0})


# -- ManagerStats ------------------------------------------------------------------------------


def test_manager_stats_fields() -> None:
    assert set(ManagerStats.model_fields) == {
        "created",
        "reused",
        "restored",
        "evicted",
        "expired",
        "ended",
        "failed",
        "active",
    }


@pytest.mark.parametrize("field", ["content", "name"])
def test_a_lone_surrogate_is_refused_when_the_message_is_made(field: str) -> None:
    """It could not be stored or sent as UTF-8; the edge refuses it, not a store's encoder."""
    values = {"role": "user", "content": "fine", field: "bad \ud800 text"}
    with pytest.raises(ValidationError, match="lone surrogate"):
        ChatMessage.model_validate(values)


# -- the manager's own outputs ---------------------------------------------------------------


async def test_a_turn_result_equals_its_validated_twin_and_copies_stay_apart() -> None:
    """``built`` skips validation for the result and stats of every turn; they must be the very
    objects validation would make (every field set), and sharing one fields-set between them
    must not leak a ``model_copy(update=...)`` into other results."""
    agents = [AgentDefinition(id="a", name="a", template_id="echo")]
    manager = SessionManager(framework="stub", agents=agents)
    command = ExecuteAgentCommand(agent_id="a", session_id="s", messages=[ChatMessage.user("hi")])
    first, second = await manager.execute(command), await manager.execute(command)
    await manager.aclose()
    for result in (first, second):
        assert result == ExecutionResult.model_validate(result.model_dump())
        assert result.model_fields_set == set(ExecutionResult.model_fields)
        assert result.stats.model_fields_set == set(SessionStats.model_fields)
    copied = first.stats.model_copy(update={"extra_marker": 1})
    assert "extra_marker" in copied.model_fields_set
    assert "extra_marker" not in second.stats.model_fields_set
    assert "extra_marker" not in first.stats.model_fields_set


async def test_a_turn_response_is_what_validation_would_make() -> None:
    """The service builds each turn's response and analytics without validating them again;
    they must equal, and serialise exactly like, their validated twins."""
    agents = [AgentDefinition(id="a", name="a", template_id="echo")]
    manager = SessionManager(framework="stub", agents=agents)
    command = ExecuteAgentCommand(agent_id="a", session_id="s", messages=[ChatMessage.user("hi")])
    await manager.execute(command)
    result = await manager.execute(command)
    await manager.aclose()
    response = turn_response(TurnResponse, "a", "s", result, time.monotonic)
    twin = TurnResponse.model_validate(response.model_dump())
    assert response == twin
    assert response.model_dump_json() == twin.model_dump_json()
    assert response.stats.turn_count == 2 and response.usage == result.usage
