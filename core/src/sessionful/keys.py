"""Session keys: the one name of one agent instance.

A key is ``agent_id``, an optional ``session_id`` and an optional ``namespace`` (the tenant or
principal that owns the session). Its string form is the original design's readable one::

    customer-service-bot#session-abc-123          agent + session
    customer-service-bot                          agent only (the shared strategy)
    acme|customer-service-bot#session-abc-123     namespaced

Inside each component ``\\``, ``#`` and ``|`` are escaped with a backslash, so ids that contain
the separators still map to distinct strings: ``("a#b", "c")`` is ``a\\#b#c`` and
``("a", "b#c")`` is ``a#b\\#c``. ``SessionKey.parse(str(k)) == k`` for every valid key. This module
is the only place that knows the separators.
"""

from __future__ import annotations

import re
from typing import Any

from sessionful.errors import InvalidSessionKey

__all__ = ["MAX_ID_LENGTH", "SessionKey"]

MAX_ID_LENGTH = 256
"""The longest id, in characters, that a key component may have."""

_ESCAPE, _SESSION_SEP, _NAMESPACE_SEP = "\\", "#", "|"
# Control characters (C0, DEL, C1) and lone surrogates, which cannot be encoded as UTF-8.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NEEDS_ESCAPE = re.compile(r"[\\#|]")


def _check(field: str, value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidSessionKey(field, value, f"must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidSessionKey(field, value, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidSessionKey(
            field, value, f"is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
        )
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        raise InvalidSessionKey(
            field,
            value,
            f"holds the forbidden character U+{ord(bad.group()):04X} at index {bad.start()}",
        )


def _escape(component: str) -> str:
    if _NEEDS_ESCAPE.search(component) is None:
        return component
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPE + m.group(), component)


class SessionKey:
    """Names one agent instance: ``agent_id``, optional ``session_id``, optional ``namespace``.

    Immutable and hashable; equal keys have equal string forms and vice versa. Construction
    validates every component and raises :class:`~sessionful.InvalidSessionKey` naming the
    bad field.
    """

    __slots__ = ("_hash", "_text", "agent_id", "namespace", "session_id")

    agent_id: str
    session_id: str | None
    namespace: str | None
    _text: str
    _hash: int

    def __init__(
        self, agent_id: str, session_id: str | None = None, namespace: str | None = None
    ) -> None:
        _check("agent_id", agent_id, optional=False)
        _check("session_id", session_id, optional=True)
        _check("namespace", namespace, optional=True)
        text = _escape(agent_id)
        if session_id is not None:
            text = f"{text}{_SESSION_SEP}{_escape(session_id)}"
        if namespace is not None:
            text = f"{_escape(namespace)}{_NAMESPACE_SEP}{text}"
        # The string form is computed once: it is the registry's dict key and the thread id.
        set_ = object.__setattr__
        set_(self, "agent_id", agent_id)
        set_(self, "session_id", session_id)
        set_(self, "namespace", namespace)
        set_(self, "_text", text)
        set_(self, "_hash", hash(text))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"SessionKey is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"SessionKey is immutable; cannot delete {name!r}")

    @classmethod
    def parse(cls, text: str) -> SessionKey:
        """Read a key back from its string form; the inverse of ``str(key)``.

        Raises :class:`~sessionful.InvalidSessionKey` (field ``"key"``) for text that no key
        produces: a dangling or needless escape, a repeated separator, or an invalid component.
        """
        if not isinstance(text, str):
            raise InvalidSessionKey("key", text, f"must be a string, not {type(text).__name__}")
        parts: list[str] = []
        seps: list[str] = []
        current: list[str] = []
        chars = iter(text)
        for ch in chars:
            if ch == _ESCAPE:
                nxt = next(chars, None)
                if nxt is None or _NEEDS_ESCAPE.fullmatch(nxt) is None:
                    raise InvalidSessionKey("key", text, "has a backslash that escapes nothing")
                current.append(nxt)
            elif ch in (_SESSION_SEP, _NAMESPACE_SEP):
                parts.append("".join(current))
                seps.append(ch)
                current = []
            else:
                current.append(ch)
        parts.append("".join(current))
        layout = "".join(seps)
        if layout == "":
            return cls(parts[0])
        if layout == _SESSION_SEP:
            return cls(parts[0], parts[1])
        if layout == _NAMESPACE_SEP:
            return cls(parts[1], namespace=parts[0])
        if layout == _NAMESPACE_SEP + _SESSION_SEP:
            return cls(parts[1], parts[2], namespace=parts[0])
        raise InvalidSessionKey(
            "key", text, "has separators out of place (expected ns|agent#session)"
        )

    def agent_key(self) -> SessionKey:
        """The key without its session: what the ``shared`` strategy uses."""
        if self.session_id is None:
            return self
        return SessionKey(self.agent_id, namespace=self.namespace)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"SessionKey({self._text!r})"

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionKey):
            return NotImplemented
        return self._text == other._text

    def __reduce__(self) -> tuple[Any, ...]:
        return (SessionKey, (self.agent_id, self.session_id, self.namespace))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        # Validated from a SessionKey or its string form; serialised as the string form.
        from pydantic_core import core_schema

        def coerce(value: Any) -> SessionKey:
            return value if isinstance(value, SessionKey) else cls.parse(value)

        return core_schema.no_info_plain_validator_function(
            coerce,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )
