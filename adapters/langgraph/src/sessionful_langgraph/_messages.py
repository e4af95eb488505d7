"""LangChain messages <-> sessionful messages, without loss.

What a :class:`~sessionful.ChatMessage` has a field for goes in that field: the role, the content
(a string, or typed blocks), the name, structured tool calls, the tool call a tool result answers,
token usage. Everything else a langchain-core message carries goes in ``metadata`` under its
langchain-core name, so the way back rebuilds the same message:

``id``, ``additional_kwargs``, ``response_metadata``, ``usage_metadata`` (the whole dict, with its
token details; ``usage`` keeps the two totals), ``invalid_tool_calls``, and for a tool message its
``status`` and ``artifact``.

Content blocks: a langchain-core block of a standard shape sessionful knows (``text``, ``image``,
``file``, ``reasoning``) becomes the typed block when the typed block gives back exactly the same
dict; any other block (a provider's own, say Anthropic's ``tool_use`` or ``thinking``, and a
``non_standard`` block itself) is kept whole as ``NonStandardBlock(value=block)`` and unwrapped on
the way back. A bare string inside a list of blocks becomes a text block (langchain-core treats the
two alike). Values that are not JSON (an artifact holding an object) are kept as their ``repr``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages import (
    ChatMessage as LangChainChatMessage,
)
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from sessionful import ChatMessage, ConfigurationError, Role
from sessionful.content import ContentBlock, NonStandardBlock, ToolCall, Usage

__all__ = ["from_langchain", "jsonable", "new_id", "to_langchain"]

# Ids for incoming messages: unique per process by the counter, across processes by the
# random prefix; cheaper than uuid4 on every turn.
_ID_PREFIX = f"as-{os.urandom(6).hex()}-"
_ID_COUNTER = itertools.count()

_BLOCK: TypeAdapter[Any] = TypeAdapter(ContentBlock)
_TYPED = frozenset({"text", "image", "file", "reasoning"})
_ROLES: Mapping[str, Role] = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}


def new_id() -> str:
    """A fresh message id, unique across processes."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER)}"


def _plain(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return from_langchain(value).model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """``value`` as JSON data: langchain-core messages as sessionful messages, anything else
    that is not JSON as its ``repr``."""
    return to_jsonable_python(_plain(value), fallback=repr)


# -- langchain-core -> sessionful -------------------------------------------------------------


def _block_in(block: Any) -> Any:
    if isinstance(block, str):
        return {"type": "text", "text": block}
    if isinstance(block, dict) and block.get("type") in _TYPED:
        try:
            typed = _BLOCK.validate_python(block)
        except ValidationError:
            pass
        else:
            if _block_out(typed) == block:
                return typed
    return NonStandardBlock(value=block if isinstance(block, dict) else {"value": block})


def _content_in(content: Any) -> Any:
    if isinstance(content, str):
        return content
    return [_block_in(block) for block in content]


def from_langchain(message: BaseMessage, **metadata: Any) -> ChatMessage:
    """The :class:`~sessionful.ChatMessage` for a langchain-core message (``metadata`` is added
    to its metadata: a stream chunk's ``index``, say)."""
    meta: dict[str, Any] = {}
    if message.id is not None:
        meta["id"] = message.id
    if message.additional_kwargs:
        meta["additional_kwargs"] = jsonable(message.additional_kwargs)
    if message.response_metadata:
        meta["response_metadata"] = jsonable(message.response_metadata)
    fields: dict[str, Any] = {}
    if isinstance(message, AIMessage):
        role: Role = "assistant"
        if message.tool_calls:
            fields["tool_calls"] = [
                ToolCall(id=call.get("id"), name=call["name"], args=call["args"])
                for call in message.tool_calls
            ]
        if message.invalid_tool_calls:
            meta["invalid_tool_calls"] = jsonable(message.invalid_tool_calls)
        usage = message.usage_metadata
        if usage is not None:
            meta["usage_metadata"] = jsonable(usage)
            fields["usage"] = Usage(
                input_tokens=usage.get("input_tokens", 0),
                output_tokens=usage.get("output_tokens", 0),
            )
    elif isinstance(message, ToolMessage):
        role = "tool"
        fields["tool_call_id"] = message.tool_call_id
        meta["status"] = message.status
        if message.artifact is not None:
            meta["artifact"] = jsonable(message.artifact)
    elif isinstance(message, HumanMessage):
        role = "user"
    elif isinstance(message, SystemMessage):
        role = "system"
    else:
        kind = message.role if isinstance(message, LangChainChatMessage) else message.type
        role = _ROLES.get(kind, "user")
        meta["langchain_role"] = kind
    meta.update(metadata)
    return ChatMessage(
        role=role,
        content=_content_in(message.content),
        name=message.name,
        metadata=meta,
        **fields,
    )


# -- sessionful -> langchain-core -------------------------------------------------------------


def _block_out(block: Any) -> Any:
    if isinstance(block, NonStandardBlock) and block.id is None and not block.model_extra:
        return block.value
    dumped: dict[str, Any] = block.model_dump(exclude_none=True)
    return dumped


def _content_out(content: Any) -> Any:
    if isinstance(content, str):
        return content
    return [_block_out(block) for block in content]


def _tool_calls(message: ChatMessage) -> list[dict[str, Any]]:
    if message.tool_calls:
        return [
            {"id": call.id, "name": call.name, "args": call.args, "type": "tool_call"}
            for call in message.tool_calls
        ]
    legacy = message.metadata.get("tool_calls", [])  # sessions stored before tool_calls existed
    return list(legacy)


def _usage_metadata(message: ChatMessage) -> dict[str, Any] | None:
    stored = message.metadata.get("usage_metadata")
    if stored is not None:
        return dict(stored)
    usage = message.usage
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def to_langchain(message: ChatMessage) -> BaseMessage:
    """The langchain-core message for ``message`` (with a fresh id when it has none).

    Raises ``ConfigurationError`` naming the problem when the message cannot make a
    langchain-core message (a malformed tool call, say): bad input, not an agent failure.
    """
    try:
        return _to_langchain(message)
    except (ValidationError, TypeError, ValueError, KeyError) as exc:
        raise ConfigurationError(
            f"a {message.role} message cannot be passed to LangGraph: {exc!r}"
        ) from None


def _to_langchain(message: ChatMessage) -> BaseMessage:
    meta = message.metadata
    ident = meta.get("id") or new_id()
    if not isinstance(ident, str):
        raise TypeError(f"metadata 'id' must be a string, not {type(ident).__name__}")
    common: dict[str, Any] = {
        "content": _content_out(message.content),
        "id": ident,
        "name": message.name,
        "additional_kwargs": dict(meta.get("additional_kwargs") or {}),
        "response_metadata": dict(meta.get("response_metadata") or {}),
    }
    kind = meta.get("langchain_role")
    if isinstance(kind, str) and kind not in ("human", "ai", "system", "tool"):
        return LangChainChatMessage(role=kind, **common)
    if message.role == "user":
        return HumanMessage(**common)
    if message.role == "assistant":
        return AIMessage(
            **common,
            tool_calls=_tool_calls(message),
            invalid_tool_calls=list(meta.get("invalid_tool_calls") or []),
            usage_metadata=_usage_metadata(message),
        )
    if message.role == "system":
        return SystemMessage(**common)
    status: Literal["success", "error"] = meta.get("status", "success")
    return ToolMessage(
        **common,
        tool_call_id=message.tool_call_id or meta.get("tool_call_id", ""),
        status=status,
        artifact=meta.get("artifact"),
    )
