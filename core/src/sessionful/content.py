"""Content blocks: what a message holds besides plain text, and tool calls.

The shapes are langchain-core's standard content blocks (``{"type": "text", "text": ...}``,
``{"type": "image", "url": ...}``, ...), defined again here in pydantic so the core imports no
framework. Plain dicts of these shapes validate into them; a ``ChatMessage.content`` may still be
a plain string everywhere. Unknown fields go to ``extras`` in langchain; here every block allows
extra keys and keeps them, so a round trip through a store loses nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ContentBlock",
    "FileBlock",
    "ImageBlock",
    "NonStandardBlock",
    "ReasoningBlock",
    "TextBlock",
    "ToolCall",
    "Usage",
]


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _lone_surrogate(value: str) -> bool:
    """Whether ``value`` holds a lone surrogate, which UTF-8 cannot encode (ASCII never does)."""
    return not value.isascii() and _SURROGATE.search(value) is not None


def _encodable(value: str) -> str:
    # A lone surrogate cannot be stored or sent as UTF-8; refuse it where the text is made,
    # not in a store's encoder.
    if _lone_surrogate(value):
        raise ValueError("holds a lone surrogate, which is not valid Unicode text")
    return value


_Text = Annotated[str, AfterValidator(_encodable)]
"""A string that UTF-8 can hold (no lone surrogate): message text, names, text blocks."""


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    id: str | None = None
    """The provider's id for the block, when it gives one."""


class TextBlock(_Block):
    """Text, the common case: ``{"type": "text", "text": "Hello"}``."""

    type: Literal["text"] = "text"
    text: _Text


class _Media(_Block):
    url: str | None = None
    """Where the data is (``https://...`` or a ``data:`` URL)."""
    base64: str | None = None
    """The data itself, base64-encoded (with ``mime_type``)."""
    file_id: str | None = None
    """A provider's id for an uploaded file."""
    mime_type: str | None = None

    @model_validator(mode="after")
    def _has_source(self) -> _Media:
        if self.url is None and self.base64 is None and self.file_id is None:
            raise ValueError(f"a {self.type} block needs one of url, base64 or file_id")  # type: ignore[attr-defined]
        return self


class ImageBlock(_Media):
    """An image: ``{"type": "image", "url": ...}`` or ``base64`` with ``mime_type``."""

    type: Literal["image"] = "image"


class FileBlock(_Media):
    """A file (a PDF, say), shaped like an image block."""

    type: Literal["file"] = "file"


class ReasoningBlock(_Block):
    """The model's reasoning, when the provider returns it."""

    type: Literal["reasoning"] = "reasoning"
    reasoning: str | None = None


class NonStandardBlock(_Block):
    """Provider-specific JSON that has no standard shape: ``{"type": "non_standard",
    "value": {...}}``."""

    type: Literal["non_standard"] = "non_standard"
    value: dict[str, Any]


ContentBlock = Annotated[
    TextBlock | ImageBlock | FileBlock | ReasoningBlock | NonStandardBlock,
    Field(discriminator="type"),
]
"""One typed block of a message's content, chosen by its ``type``."""


class ToolCall(BaseModel):
    """A tool call an assistant message asks for (langchain-core's ``ToolCall`` shape)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str | None = None
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Usage(BaseModel):
    """Tokens a model call (or a whole turn) used, when the framework reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )
