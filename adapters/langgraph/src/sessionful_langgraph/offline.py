"""A deterministic, offline chat model: a real langchain-core ``BaseChatModel`` with no network.

It is the default model of the built-in templates, so demos and tests never need a key or a
connection. What it says depends only on the messages in its context:

* "My name is Ada" ... "What is my name?" -> "Your name is Ada." (memory is visible);
* with tools bound, a request for a refund calls ``refund`` (the order id and the ``$`` amount
  in the message) and a question about an order calls ``order_status`` (the id in the message,
  or ``"latest"``); the tool's result is answered with "Your order status: ..." or "Refund: ...";
* a greeting is answered with a greeting (by name when it knows one);
* anything else: ``You said: <text> (message <n>)``, ``<n>`` counting the user messages so far.

Every reply reports usage (``usage_metadata``): input tokens are the words of the messages it
read, output tokens the words of its reply. Replies stream word by word through ``astream``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable

__all__ = ["OfflineChatModel"]

_NAME = re.compile(r"\bmy name is ([A-Za-z][\w-]*)", re.IGNORECASE)
_ASKS_NAME = re.compile(r"\bwhat(?:'s| is) my name\b", re.IGNORECASE)
_ORDER = re.compile(r"\border\b", re.IGNORECASE)
_ORDER_ID = re.compile(r"\b([A-Z]{1,3}-\d{1,10})\b")
_REFUND = re.compile(r"\brefund\b", re.IGNORECASE)
_AMOUNT = re.compile(r"\$\s*(\d+(?:\.\d+)?)")
_GREETING = re.compile(r"^\s*(hello|hi|hey)\b", re.IGNORECASE)


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


class OfflineChatModel(BaseChatModel):
    """Deterministic replies from the conversation alone; tools by name when bound."""

    tool_names: tuple[str, ...] = ()
    """Names of the tools bound with :meth:`bind_tools` (only ``order_status`` is ever called)."""

    @property
    def _llm_type(self) -> str:
        return "sessionful-offline"

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """A copy of this model that knows the tools' names."""
        names = tuple(
            getattr(tool, "name", None) or getattr(tool, "__name__", "") for tool in tools
        )
        return self.model_copy(update={"tool_names": names})

    def reply(self, messages: Sequence[BaseMessage]) -> AIMessage:
        """The model's answer to ``messages``, with its usage."""
        answer = self._reply(messages)
        words_in = sum(len(_text(m).split()) for m in messages)
        words_out = len(_text(answer).split()) + len(answer.tool_calls)
        usage = {"input_tokens": words_in, "output_tokens": words_out}
        answer.usage_metadata = cast(UsageMetadata, {**usage, "total_tokens": words_in + words_out})
        return answer

    def _reply(self, messages: Sequence[BaseMessage]) -> AIMessage:
        last = messages[-1] if messages else HumanMessage("")
        if isinstance(last, ToolMessage):
            if last.name == "refund":
                return AIMessage(content=f"Refund: {_text(last)}")
            return AIMessage(content=f"Your order status: {_text(last)}")
        text = _text(last)
        humans = [_text(m) for m in messages if isinstance(m, HumanMessage)]
        name = None
        for said in humans:
            found = _NAME.search(said)
            if found:
                name = found.group(1)
        call_id = f"call_{len(humans)}"
        if "refund" in self.tool_names and _REFUND.search(text):
            order = _ORDER_ID.search(text)
            amount = _AMOUNT.search(text)
            args: dict[str, Any] = {
                "order_id": order.group(1) if order else "latest",
                "amount": float(amount.group(1)) if amount else 0.0,
            }
            return AIMessage(
                content="",
                tool_calls=[{"name": "refund", "args": args, "id": call_id, "type": "tool_call"}],
            )
        if "order_status" in self.tool_names and _ORDER.search(text):
            order = _ORDER_ID.search(text)
            args = {"order_id": order.group(1) if order else "latest"}
            return AIMessage(
                content="",
                tool_calls=[
                    {"name": "order_status", "args": args, "id": call_id, "type": "tool_call"}
                ],
            )
        if _ASKS_NAME.search(text):
            return AIMessage(
                content=f"Your name is {name}." if name else "You have not told me your name."
            )
        if _NAME.search(text):
            return AIMessage(content=f"Nice to meet you, {name}.")
        if _GREETING.search(text):
            return AIMessage(
                content=f"Hello, {name}! How can I help?" if name else "Hello! How can I help?"
            )
        return AIMessage(content=f"You said: {text} (message {len(humans)})")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.reply(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Natively async: the default would hop to a thread pool for a pure computation.
        return self._generate(messages, stop, **kwargs)

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        answer = self.reply(messages)
        if answer.tool_calls:
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "name": call["name"],
                            "args": _json(call["args"]),
                            "id": call["id"],
                            "index": i,
                            "type": "tool_call_chunk",
                        }
                        for i, call in enumerate(answer.tool_calls)
                    ],
                    usage_metadata=answer.usage_metadata,
                )
            )
            return
        words = _text(answer).split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=word if last else word + " ",
                    usage_metadata=answer.usage_metadata if last else None,
                )
            )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None:
                run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None:
                await run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
            yield chunk


def _json(args: dict[str, Any]) -> str:
    import json

    return json.dumps(args, sort_keys=True)
