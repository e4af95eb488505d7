"""JSON for stored columns: messages, snapshots, interrupts and labels to text and back.

Every SQL store writes its JSON columns with :func:`dumps` and reads them with :func:`loads` (or
the ``decode_*`` functions built on it). Writing refuses what no read would accept (NaN,
infinities, nesting deeper than :data:`MAX_JSON_DEPTH`); reading refuses, with
:class:`~sessionful.CorruptSessionData` naming the session, anything that is not JSON of the
right shape and bounded depth, and LangChain's object envelopes anywhere in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from sessionful.errors import CorruptSessionData
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage, Interrupt

__all__ = [
    "MAX_JSON_DEPTH",
    "decode_interrupts",
    "decode_labels",
    "decode_message",
    "decode_snapshot",
    "dumps",
    "encode_interrupts",
    "encode_labels",
    "encode_message",
    "encode_snapshot",
    "loads",
]

MAX_JSON_DEPTH = 200
"""How deeply stored JSON (message metadata, snapshots, interrupt values) may nest. Deeper data
is refused when written (``ValueError``) and when read (``CorruptSessionData``), so no read of a
hostile row can exhaust the stack."""


_RICH = "$sessionful"
"""Marks a log row's metadata column as holding a whole message (content blocks, tool calls,
usage) rather than only its metadata. A plain-text message stores its metadata as it is, so the
common row stays small and readable; its ``content`` column always holds the message's text."""


def encode_message(message: ChatMessage) -> tuple[str, str, str | None, str]:
    """``(role, text, name, metadata JSON)`` for a log row. Raises ``ValueError`` for what JSON
    cannot hold or for metadata nested deeper than :data:`MAX_JSON_DEPTH`."""
    if (
        isinstance(message.content, str)
        and not message.tool_calls
        and message.tool_call_id is None
        and message.usage is None
        and _RICH not in message.metadata
    ):
        return message.role, message.content, message.name, dumps(message.metadata)
    # Only the message's own empty fields are left out: a block's ``type`` is a default too, and
    # without it the block cannot be told apart when the row is read back.
    dumped = message.model_dump(mode="json", exclude={"role", "name"})
    whole = {k: v for k, v in dumped.items() if k == "content" or v not in (None, [], {})}
    return message.role, message.text, message.name, dumps({_RICH: 1, "message": whole})


def decode_message(key: SessionKey, role: Any, content: Any, name: Any, meta: Any) -> ChatMessage:
    """A log row back to a message; anything but plain JSON of the right shape is refused."""
    metadata = loads(key, meta, "a logged message's metadata")
    try:
        if isinstance(metadata, dict) and _RICH in metadata:
            whole = metadata["message"]
            if not isinstance(whole, dict):
                raise TypeError("a rich message row does not hold an object")
            message = ChatMessage.model_validate(
                {"content": "", **whole, "role": role, "name": name}
            )
            return message
        message = ChatMessage(role=role, content=content, name=name, metadata=metadata)
    except (ValueError, TypeError, KeyError, ValidationError) as exc:
        raise CorruptSessionData(key, f"a logged message does not decode: {exc}") from exc
    return message


def encode_snapshot(snapshot: Mapping[str, Any]) -> str:
    """A snapshot as JSON text; raises ``TypeError`` for anything JSON cannot hold and
    ``ValueError`` for NaN, infinities or nesting deeper than :data:`MAX_JSON_DEPTH`."""
    return dumps(dict(snapshot))


def decode_snapshot(key: SessionKey, text: Any) -> dict[str, Any] | None:
    """JSON text back to a snapshot dict; ``None`` stays ``None``."""
    if text is None:
        return None
    value = loads(key, text, "the snapshot")
    if not isinstance(value, dict):
        raise CorruptSessionData(key, "the snapshot is not a JSON object")
    return value


def encode_interrupts(interrupts: Sequence[Interrupt]) -> str | None:
    """Pending interrupts as JSON text (``None`` for none, so a plain turn writes a NULL)."""
    if not interrupts:
        return None
    return dumps([{"id": i.id, "value": i.value} for i in interrupts])


def decode_interrupts(key: SessionKey, text: Any) -> list[Interrupt]:
    """JSON text back to pending interrupts; ``None`` is none."""
    if text is None:
        return []
    value = loads(key, text, "the pending interrupts")
    if not isinstance(value, list):
        raise CorruptSessionData(key, "the pending interrupts are not a JSON list")
    try:
        return [Interrupt.model_validate(item) for item in value]
    except ValidationError as exc:
        raise CorruptSessionData(key, f"a pending interrupt does not decode: {exc}") from exc


def encode_labels(labels: Mapping[str, str]) -> str | None:
    """Labels as JSON text (``None`` for none)."""
    return dumps(dict(labels)) if labels else None


def decode_labels(key: SessionKey, text: Any) -> dict[str, str]:
    """JSON text back to labels; ``None`` is none."""
    if text is None:
        return {}
    value = loads(key, text, "the labels")
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise CorruptSessionData(key, "the labels are not a JSON object of strings")
    return value


def loads(key: SessionKey, text: Any, what: str) -> Any:
    """Stored JSON text back to a value, refused (``CorruptSessionData``) unless it is JSON
    nested at most :data:`MAX_JSON_DEPTH` deep with no LangChain object envelope in it."""
    if isinstance(text, (bytes, bytearray)):
        raise CorruptSessionData(key, f"{what} is bytes, not JSON text")
    try:
        value = json.loads(text)
    except RecursionError:
        raise CorruptSessionData(key, f"{what} nests too deeply") from None
    except (ValueError, TypeError) as exc:
        raise CorruptSessionData(key, f"{what} is not JSON: {exc}") from exc
    _check_stored(key, value, what)
    return value


def _check_stored(key: SessionKey, value: Any, what: str) -> None:
    """Refuse nesting deeper than :data:`MAX_JSON_DEPTH`, and LangChain's serialised-constructor
    envelope (``{"lc": 1, "type": "constructor"}``) anywhere in stored JSON. We never revive
    objects, but an adapter handing stored data to a framework's loader could; such data has no
    business in a session, so it is refused. Walks level by level, without recursion."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise CorruptSessionData(key, f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
        below: list[Any] = []
        add = below.append
        for item in level:
            children: Iterable[Any] = item
            if type(item) is dict:
                if "lc" in item and item.get("type") in _ENVELOPES:
                    raise CorruptSessionData(key, "stored data holds a LangChain object envelope")
                children = item.values()
            for child in children:
                if type(child) is dict or type(child) is list:
                    add(child)
        level = below


_ENVELOPES = ("constructor", "secret", "not_implemented")


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests deeper than :data:`MAX_JSON_DEPTH` (level by level)."""
    level = [value]
    for _ in range(MAX_JSON_DEPTH):
        below: list[Any] = []
        add = below.append
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    add(child)
        if not below:
            return False
        level = below
    return True


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""One encoder for every column (``json.dumps`` with options builds one per call).
``allow_nan=False``: NaN and Infinity are not JSON, and Postgres' jsonb refuses them."""


def dumps(value: Any) -> str:
    """Compact JSON text for a column; ``ValueError`` for NaN, infinities or nesting deeper
    than :data:`MAX_JSON_DEPTH` (which no read would accept), ``TypeError`` for non-JSON."""
    if type(value) is dict and not value:  # a plain message's metadata: the common row
        return "{}"
    try:
        text = _ENCODER.encode(value)
    except RecursionError:  # far deeper than the limit: the encoder's own guard stopped it
        raise ValueError(f"stored JSON may nest at most {MAX_JSON_DEPTH} levels deep") from None
    # Fewer brackets than the limit cannot nest past it (brackets in strings only add to the
    # count): the common small value is never walked.
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _too_deep(value):
        raise ValueError(f"stored JSON may nest at most {MAX_JSON_DEPTH} levels deep")
    return text
