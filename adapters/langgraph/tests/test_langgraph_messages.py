"""LangChain messages <-> sessionful messages lose nothing (property-based), and the sessionful
side survives its own JSON (what a store keeps)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from sessionful import ChatMessage, ImageBlock, NonStandardBlock, ReasoningBlock, TextBlock
from sessionful_langgraph import from_langchain, to_langchain

text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
ident = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
scalar = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | text
json_value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ident, inner, max_size=3),
    max_leaves=6,
)
json_object = st.dictionaries(ident, json_value, max_size=3)

blocks = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, text),
    st.builds(lambda t, a: {"type": "text", "text": t, "annotations": a}, text, json_value),
    st.builds(lambda u: {"type": "image", "url": f"https://x.test/{u}.png"}, ident),
    st.builds(
        lambda d: {"type": "image", "base64": d, "mime_type": "image/png", "id": "img-1"}, ident
    ),
    st.builds(lambda f: {"type": "file", "file_id": f}, ident),
    st.builds(lambda r: {"type": "reasoning", "reasoning": r}, text),
    # a provider's own shapes, a v0 image, and LangChain's own non_standard block
    st.builds(
        lambda i, a: {"type": "tool_use", "id": i, "name": "f", "input": a}, ident, json_object
    ),
    st.builds(lambda s: {"type": "thinking", "thinking": s, "signature": "sig"}, text),
    st.builds(lambda d: {"type": "image", "source_type": "base64", "data": d}, ident),
    st.builds(lambda v: {"type": "non_standard", "value": v}, json_object),
)
content = text | st.lists(blocks, max_size=4)
common = {
    "content": content,
    "id": st.none() | ident,
    "name": st.none() | ident,
    "additional_kwargs": json_object,
    "response_metadata": json_object,
}
tool_call = st.builds(
    lambda i, n, a: {"id": i, "name": n, "args": a, "type": "tool_call"}, ident, ident, json_object
)
invalid_call = st.builds(
    lambda i, a: {
        "id": i,
        "name": "f",
        "args": a,
        "error": "bad json",
        "type": "invalid_tool_call",
    },
    ident,
    text,
)
usage = st.builds(
    lambda i, o, d: {
        "input_tokens": i,
        "output_tokens": o,
        "total_tokens": i + o,
        **({"input_token_details": {"cache_read": d}} if d else {}),
    },
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 100),
)
messages: st.SearchStrategy[BaseMessage] = st.one_of(
    st.builds(HumanMessage, **common),
    st.builds(SystemMessage, **common),
    st.builds(
        AIMessage,
        **common,
        tool_calls=st.lists(tool_call, max_size=2),
        invalid_tool_calls=st.lists(invalid_call, max_size=1),
        usage_metadata=st.none() | usage,
    ),
    st.builds(
        ToolMessage,
        **common,
        tool_call_id=ident,
        status=st.sampled_from(["success", "error"]),
        artifact=json_value,
    ),
)


def _normal(message: BaseMessage) -> dict[str, Any]:
    """A message as data; a message without an id gets one on its way in."""
    data = message.model_dump()
    data.pop("id")
    return data


@settings(max_examples=300, deadline=None)
@given(messages)
def test_langchain_to_sessionful_and_back_is_lossless(message: BaseMessage) -> None:
    ours = from_langchain(message)
    stored = ChatMessage.model_validate_json(ours.model_dump_json())  # what a store keeps
    assert stored == ours
    back = to_langchain(stored)
    assert type(back) is type(message)
    assert _normal(back) == _normal(message)
    if message.id is not None:
        assert back.id == message.id
    assert from_langchain(back) == ours.model_copy(
        update={"metadata": {**ours.metadata, "id": back.id}}
    )


def test_fields_go_where_sessionful_has_a_field_for_them() -> None:
    ai = AIMessage(
        content=[
            {"type": "reasoning", "reasoning": "think"},
            {"type": "text", "text": "Hi "},
            {"type": "image", "url": "https://x.test/a.png"},
            {"type": "thinking", "thinking": "raw", "signature": "s"},
        ],
        id="m1",
        tool_calls=[{"id": "c1", "name": "lookup", "args": {"q": 1}, "type": "tool_call"}],
        usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        response_metadata={"model_name": "m", "finish_reason": "stop"},
    )
    ours = from_langchain(ai)
    assert ours.role == "assistant" and ours.text == "Hi "
    assert ours.content == [
        ReasoningBlock(reasoning="think"),
        TextBlock(text="Hi "),
        ImageBlock(url="https://x.test/a.png"),
        NonStandardBlock(value={"type": "thinking", "thinking": "raw", "signature": "s"}),
    ]
    assert [(c.id, c.name, c.args) for c in ours.tool_calls] == [("c1", "lookup", {"q": 1})]
    assert ours.usage is not None and (ours.usage.input_tokens, ours.usage.output_tokens) == (3, 4)
    assert ours.metadata["response_metadata"] == {"model_name": "m", "finish_reason": "stop"}
    tool = from_langchain(
        ToolMessage(content="no", tool_call_id="c1", name="lookup", status="error", artifact=[1])
    )
    assert (tool.role, tool.tool_call_id, tool.name) == ("tool", "c1", "lookup")
    assert (tool.metadata["status"], tool.metadata["artifact"]) == ("error", [1])


def test_a_sessionful_message_becomes_the_langchain_message_it_says() -> None:
    message = ChatMessage(
        role="assistant",
        content="",
        tool_calls=[{"id": "c1", "name": "refund", "args": {"amount": 5}}],  # type: ignore[list-item]
        usage={"input_tokens": 2, "output_tokens": 1},  # type: ignore[arg-type]
    )
    ai = to_langchain(message)
    assert isinstance(ai, AIMessage)
    assert ai.tool_calls == [
        {"id": "c1", "name": "refund", "args": {"amount": 5}, "type": "tool_call"}
    ]
    assert ai.usage_metadata == {"input_tokens": 2, "output_tokens": 1, "total_tokens": 3}
    user = to_langchain(
        ChatMessage.user([{"type": "text", "text": "look"}, {"type": "image", "url": "u"}])  # type: ignore[arg-type]
    )
    assert user.content == [{"type": "text", "text": "look"}, {"type": "image", "url": "u"}]
    provider = to_langchain(
        ChatMessage(
            role="user",
            content=[NonStandardBlock(value={"type": "document", "source": {"x": 1}})],
        )
    )
    assert provider.content == [{"type": "document", "source": {"x": 1}}]
