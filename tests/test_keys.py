"""SessionKey: the readable form, escaping, round trip, injectivity and validation."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionful import (
    MAX_ID_LENGTH,
    ChatMessage,
    ConfigurationError,
    ExecutionResult,
    InvalidSessionKey,
    SessionKey,
    SessionStats,
)

# Valid ids: 1..256 characters, no control characters (Cc covers C0, DEL and C1) and no
# surrogates; the separators and the escape character are drawn often on purpose.
_char = st.one_of(
    st.sampled_from("#|\\"),
    st.characters(blacklist_categories=("Cc", "Cs")),
)
ids = st.text(_char, min_size=1, max_size=MAX_ID_LENGTH)
optional_ids = st.none() | ids
keys = st.builds(SessionKey, ids, optional_ids, optional_ids)
components = st.tuples(ids, optional_ids, optional_ids)


@given(keys)
def test_parse_inverts_str(key: SessionKey) -> None:
    parsed = SessionKey.parse(str(key))
    assert parsed == key
    assert (parsed.agent_id, parsed.session_id, parsed.namespace) == (
        key.agent_id,
        key.session_id,
        key.namespace,
    )


@given(components, components)
def test_distinct_components_give_distinct_strings(
    a: tuple[str, str | None, str | None], b: tuple[str, str | None, str | None]
) -> None:
    ka, kb = SessionKey(*a), SessionKey(*b)
    assert (str(ka) == str(kb)) == (a == b)
    assert (ka == kb) == (a == b)


@given(keys)
def test_equal_keys_hash_equal(key: SessionKey) -> None:
    twin = SessionKey(key.agent_id, key.session_id, key.namespace)
    assert twin == key
    assert hash(twin) == hash(key)
    assert len({key, twin}) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("a#b", "c"), ("a", "b#c")),
        (("a|b", None, None), ("b", None, "a")),
        (("a", "b", "n|x"), ("x|a", "b", "n")),
        (("a\\", "b"), ("a", "\\b")),
        (("a\\#b",), ("a\\", "b")),
    ],
)
def test_separator_in_id_does_not_collide(a: tuple[str, ...], b: tuple[str, ...]) -> None:
    ka, kb = SessionKey(*a), SessionKey(*b)
    assert str(ka) != str(kb)
    assert ka != kb
    assert SessionKey.parse(str(ka)) == ka
    assert SessionKey.parse(str(kb)) == kb


def test_readable_form_of_ordinary_ids() -> None:
    assert str(SessionKey("customer-service-bot", "session-abc-123")) == (
        "customer-service-bot#session-abc-123"
    )
    assert str(SessionKey("customer-service-bot")) == "customer-service-bot"
    assert str(SessionKey("bot", "s1", namespace="acme")) == "acme|bot#s1"
    assert str(SessionKey("bot", namespace="acme")) == "acme|bot"


def test_separators_are_escaped_with_a_backslash() -> None:
    assert str(SessionKey("a#b", "c")) == "a\\#b#c"
    assert str(SessionKey("a", "b#c")) == "a#b\\#c"
    assert str(SessionKey("a\\b", "c|d")) == "a\\\\b#c\\|d"


def test_parse_reads_each_layout() -> None:
    assert SessionKey.parse("bot") == SessionKey("bot")
    assert SessionKey.parse("bot#s") == SessionKey("bot", "s")
    assert SessionKey.parse("ns|bot") == SessionKey("bot", namespace="ns")
    parsed = SessionKey.parse("ns|bot#s")
    assert (parsed.agent_id, parsed.session_id, parsed.namespace) == ("bot", "s", "ns")


def test_agent_key_drops_only_the_session() -> None:
    key = SessionKey("bot", "s1", "acme")
    assert key.agent_key() == SessionKey("bot", namespace="acme")
    assert SessionKey("bot").agent_key() == SessionKey("bot")


# -- validation ---------------------------------------------------------------------------------

_FIELDS = ["agent_id", "session_id", "namespace"]


def _build(field: str, value: object) -> SessionKey:
    parts: dict[str, object] = {"agent_id": "bot", "session_id": "s", "namespace": "ns"}
    parts[field] = value
    return SessionKey(**parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", _FIELDS)
@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * (MAX_ID_LENGTH + 1),
        "a\x00b",
        "\x1f",
        "tab\there",
        "new\nline",
        "\x7f",
        "\x85",
        "\x9f",
        "\ud800",
        "lone \udfff surrogate",
        42,
        b"bytes",
    ],
    ids=repr,
)
def test_invalid_ids_raise_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidSessionKey) as info:
        _build(field, value)
    assert info.value.field == field
    assert info.value.value == value
    assert field in str(info.value)


def test_agent_id_is_required() -> None:
    with pytest.raises(InvalidSessionKey) as info:
        SessionKey(None)  # type: ignore[arg-type]
    assert info.value.field == "agent_id"


@pytest.mark.parametrize("text", ["x" * MAX_ID_LENGTH, "é", "日本語", "emoji 🎉", "\xa0", "~!@$%"])
def test_edge_of_valid(text: str) -> None:
    key = SessionKey(text, text, text)
    assert SessionKey.parse(str(key)) == key


def test_invalid_session_key_is_a_configuration_error() -> None:
    assert issubclass(InvalidSessionKey, ConfigurationError)
    assert issubclass(InvalidSessionKey, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        "a\\",  # dangling backslash
        "a\\x",  # escapes nothing
        "a#b#c",
        "a|b|c",
        "a#b|c",
        "n|a#b#c",
        "#b",  # empty agent
        "a#",  # empty session
        "|a",  # empty namespace
        "",
        "a\x00#b",
    ],
)
def test_parse_rejects_text_no_key_produces(text: str) -> None:
    with pytest.raises(InvalidSessionKey):
        SessionKey.parse(text)


@pytest.mark.parametrize("text", ["a\\", "a\\x", "a#b#c", "a|b|c", "a#b|c", 7])
def test_parse_errors_name_the_key_field(text: object) -> None:
    with pytest.raises(InvalidSessionKey) as info:
        SessionKey.parse(text)  # type: ignore[arg-type]
    assert info.value.field == "key"


# -- value semantics ----------------------------------------------------------------------------


def test_keys_are_immutable() -> None:
    key = SessionKey("bot", "s")
    with pytest.raises(AttributeError):
        key.agent_id = "other"
    with pytest.raises(AttributeError):
        key.session_id = None
    with pytest.raises(AttributeError):
        del key.namespace
    with pytest.raises(AttributeError):
        key.extra = 1
    assert str(key) == "bot#s"


def test_keys_compare_by_value_not_identity() -> None:
    assert SessionKey("bot", "s") == SessionKey("bot", "s")
    assert SessionKey("bot", "s") != SessionKey("bot", "t")
    assert SessionKey("bot", "s") != SessionKey("bot", "s", "ns")
    assert SessionKey("bot") != SessionKey("bot", "bot")
    assert SessionKey("bot", "s") != "bot#s"  # not equal to its string form
    assert {SessionKey("bot", "s"): 1}[SessionKey("bot", "s")] == 1


def test_repr_shows_the_string_form() -> None:
    assert repr(SessionKey("bot", "s")) == "SessionKey('bot#s')"


@given(keys)
def test_pickle_and_copy_keep_the_key(key: SessionKey) -> None:
    # Keys travel between processes (affinity, stores); pickle via __reduce__ must round-trip.
    assert pickle.loads(pickle.dumps(key)) == key  # noqa: S301
    assert copy.deepcopy(key) == key


# -- pydantic -----------------------------------------------------------------------------------


def _result(key: SessionKey) -> ExecutionResult:
    stats = SessionStats(
        message_count=2,
        turn_count=1,
        created_at=1.0,
        last_activity=2.0,
        duration=1.0,
        response_time_mean=0.5,
        response_time_p95=0.5,
    )
    return ExecutionResult(
        session_key=key,
        messages=[ChatMessage.assistant("hi")],
        instance_event="created",
        stats=stats,
    )


@given(keys)
def test_execution_result_json_round_trip(key: SessionKey) -> None:
    dumped = _result(key).model_dump(mode="json")
    assert dumped["session_key"] == str(key)
    again = ExecutionResult.model_validate(dumped)
    assert isinstance(again.session_key, SessionKey)
    assert again.session_key == key
    assert ExecutionResult.model_validate_json(_result(key).model_dump_json()).session_key == key


def test_pydantic_rejects_an_invalid_key_string() -> None:
    from pydantic import ValidationError

    dumped = _result(SessionKey("bot", "s")).model_dump(mode="json")
    dumped["session_key"] = "a#b#c"
    with pytest.raises(ValidationError):
        ExecutionResult.model_validate(dumped)


def test_pydantic_json_schema_says_string() -> None:
    schema = ExecutionResult.model_json_schema(mode="validation")
    assert schema["properties"]["session_key"]["type"] == "string"
