"""Generated messages for the content-block round trips: Hypothesis strategies over the plain
JSON shapes of ``ChatMessage`` (text, image, file, reasoning and non-standard blocks, tool calls,
usage, metadata), and the checks each generated message must pass in the core before an adapter
sees it (validation, JSON, the store codec)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionful.content import (
    FileBlock,
    ImageBlock,
    NonStandardBlock,
    ReasoningBlock,
    TextBlock,
)
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores._json import decode_message, encode_message

__all__ = ["check_codec", "generate", "message_dicts"]

_TYPED: dict[str, type[Any]] = {
    "text": TextBlock,
    "image": ImageBlock,
    "file": FileBlock,
    "reasoning": ReasoningBlock,
    "non_standard": NonStandardBlock,
}

# Any Unicode text but lone surrogates, which ChatMessage refuses (they are not valid UTF-8).
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
_WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
# Object keys: never "lc", which with a "type" would look like LangChain's object envelope,
# which the stores refuse on purpose.
_KEY = _TEXT.filter(lambda key: key != "lc")
_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEY, children, max_size=3),
    max_leaves=8,
)
_ID = st.none() | _WORD
_EXTRA = st.dictionaries(_WORD.map(lambda word: f"x_{word}"), _JSON, max_size=2)
"""Provider extras on a block, kept through every round trip."""


def _block(kind: str, fields: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda f, extra, block_id: {
            **extra,
            **({} if block_id is None else {"id": block_id}),
            **f,
            "type": kind,
        },
        fields,
        _EXTRA,
        _ID,
    )


_SOURCE = st.one_of(
    st.fixed_dictionaries(
        {"url": st.sampled_from(["https://example.com/cat.png", "data:image/png;base64,iVBORw=="])}
    ),
    st.fixed_dictionaries(
        {
            "base64": st.sampled_from(["iVBORw0KGgo=", "JVBERi0xLjQK"]),
            "mime_type": st.sampled_from(["image/png", "application/pdf"]),
        }
    ),
    st.fixed_dictionaries({"file_id": _WORD}),
)

BLOCKS: st.SearchStrategy[Any] = st.one_of(
    _block("text", st.fixed_dictionaries({"text": _TEXT})),
    _block("image", _SOURCE),
    _block("file", _SOURCE),
    _block("reasoning", st.fixed_dictionaries({}, optional={"reasoning": _TEXT})),
    _block(
        "non_standard", st.fixed_dictionaries({"value": st.dictionaries(_KEY, _JSON, max_size=3)})
    ),
)
"""One content block as plain JSON, of any of the standard types."""


@st.composite
def message_dicts(
    draw: st.DrawFn,
    roles: tuple[str, ...] = ("user", "assistant", "system", "tool"),
    blocks: bool = False,
) -> dict[str, Any]:
    """A message as the plain JSON a client would send: a string or a list of blocks (always
    blocks, one of them non-empty text, with ``blocks=True``), and maybe a name, tool calls
    (assistant), a tool call id (tool), usage and metadata."""
    role = draw(st.sampled_from(roles))
    if blocks:  # some blocks, with at least one non-empty text block among them
        content: Any = draw(st.lists(BLOCKS, max_size=3))
        text = draw(_block("text", st.fixed_dictionaries({"text": _TEXT.filter(str.strip)})))
        content.insert(draw(st.integers(0, len(content))), text)
    else:
        content = draw(_TEXT | st.lists(BLOCKS, max_size=4))
    message: dict[str, Any] = {"role": role, "content": content}
    if draw(st.booleans()):
        message["name"] = draw(_WORD)
    if role == "assistant" and draw(st.booleans()):
        message["tool_calls"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"name": _WORD, "args": st.dictionaries(_KEY, _JSON, max_size=3)},
                    optional={"id": _WORD},
                ),
                max_size=2,
            )
        )
    if role == "tool" and draw(st.booleans()):
        message["tool_call_id"] = draw(_WORD)
    if draw(st.booleans()):
        message["usage"] = draw(
            st.fixed_dictionaries(
                {
                    "input_tokens": st.integers(0, 10**6),
                    "output_tokens": st.integers(0, 10**6),
                }
            )
        )
    if draw(st.booleans()):
        message["metadata"] = draw(st.dictionaries(_KEY, _JSON, max_size=3))
    return message


_CODEC_KEY = SessionKey("conformance", "content")


def check_codec(raw: dict[str, Any]) -> ChatMessage:
    """Validate ``raw`` into a ``ChatMessage`` and check it survives what the core does with it:
    typed blocks (extras kept), a JSON round trip, and the stores' row codec."""
    message = ChatMessage.model_validate(raw)
    if isinstance(raw["content"], list):
        assert isinstance(message.content, list)
        for given, block in zip(raw["content"], message.content, strict=True):
            assert isinstance(block, _TYPED[given["type"]]), (
                f"{given!r} validated into {type(block).__name__}"
            )
            dumped = block.model_dump(mode="json")
            lost = {k: v for k, v in given.items() if dumped.get(k) != v}
            assert not lost, f"the block {given!r} lost or changed {lost!r} in validation"
    text = message.model_dump_json()
    assert ChatMessage.model_validate_json(text) == message, f"JSON round trip changed {raw!r}"
    assert ChatMessage.model_validate(json.loads(text)) == message
    row = encode_message(message)
    back = decode_message(_CODEC_KEY, *row)
    assert back == message, f"the store codec changed {message!r} into {back!r} (row {row!r})"
    return message


def generate(
    count: int,
    roles: tuple[str, ...] = ("user", "assistant", "system", "tool"),
    blocks: bool = False,
) -> list[ChatMessage]:
    """``count`` generated messages, each already through :func:`check_codec` (a failure there
    is shrunk by Hypothesis to a minimal message)."""
    found: list[ChatMessage] = []

    @settings(
        max_examples=max(1, count),
        deadline=None,
        database=None,  # write no .hypothesis/ folder into the adapter's project
        suppress_health_check=list(HealthCheck),
    )
    @given(message_dicts(roles, blocks))
    def run(raw: dict[str, Any]) -> None:
        found.append(check_codec(raw))

    run()
    return found[-count:] if count else []
