"""A deterministic, offline ``Model`` for the OpenAI Agents SDK: no network, no key.

It is the default model of the built-in templates, so demos and tests run anywhere. What it says
depends only on the input items it is given (so whatever it remembers, the session remembered):

* "My name is Ada" ... "What is my name?" -> "Your name is Ada.";
* with an ``order_status`` tool, a question about an order calls it (the id in the message, or
  ``"latest"``), and the tool's output is answered with "Your order status: ...";
* with a ``refund`` tool, a message asking for a refund calls it (the order id and the amount in
  the message); its output is answered with "Refund: ..." (the built-in ``refund`` needs approval,
  so this is where a run stops for a human);
* ``context?`` is answered with the turn's context as JSON, as the templates' instructions show
  it (``context: {...}``);
* a greeting is answered with a greeting (by name when it knows one);
* anything else: ``You said: <text> (message <n>)``, ``<n>`` counting the user messages so far.

These are the replies of the LangGraph adapter's offline model, so a demo reads the same on
either framework. Usage counts words: input tokens are the words of the input's text, output
tokens those of the reply. Streaming yields the reply word by word as Responses text deltas.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from agents import (
    AgentOutputSchemaBase,
    Handoff,
    Model,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    Tool,
    TResponseInputItem,
    Usage,
)
from agents.items import TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseUsage,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

__all__ = ["OfflineModel"]

_NAME = re.compile(r"\bmy name is ([A-Za-z][\w-]*)", re.IGNORECASE)
_ASKS_NAME = re.compile(r"\bwhat(?:'s| is) my name\b", re.IGNORECASE)
_ORDER = re.compile(r"\border\b", re.IGNORECASE)
_REFUND = re.compile(r"\brefund\b", re.IGNORECASE)
_ORDER_ID = re.compile(r"\b([A-Z]{1,3}-\d{1,10})\b")
_AMOUNT = re.compile(r"\$\s?(\d+(?:\.\d{1,2})?)")
_GREETING = re.compile(r"^\s*(hello|hi|hey)\b", re.IGNORECASE)
_CONTEXT = re.compile(r"^Context: (\{.*\})$", re.MULTILINE)

# Response and item ids: unique within the process, deterministic in order.
_IDS = itertools.count(1)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable):
        return "".join(str(_field(part, "text") or "") for part in content)
    return ""


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _user_texts(items: list[Any]) -> list[str]:
    return [
        _content_text(_field(item, "content"))
        for item in items
        if _field(item, "role") == "user" and _field(item, "type") in (None, "message")
    ]


def _words(items: list[Any]) -> int:
    total = 0
    for item in items:
        text = _content_text(_field(item, "content")) or str(_field(item, "output") or "")
        total += len(text.split())
    return total


class OfflineModel(Model):
    """Deterministic replies from the input items alone; calls tools by name when offered."""

    def reply(
        self, items: list[Any], tool_names: Iterable[str], instructions: str | None = None
    ) -> TResponseOutputItem:
        """The output item the model produces for ``items`` (a message or one tool call)."""
        tools = set(tool_names)
        last = items[-1] if items else {"role": "user", "content": ""}
        handed_over = False
        if _field(last, "type") == "function_call_output":
            called = _called_tool(items, _field(last, "call_id")) or ""
            output = str(_field(last, "output") or "")
            if called == "refund":
                return _message(f"Refund: {output}")
            if not called.startswith("transfer_to_"):
                return _message(f"Your order status: {output}")
            handed_over = True  # a handoff: the new agent answers the user's last message
        users = _user_texts(items)
        text = users[-1] if users and (handed_over or _field(last, "role") == "user") else ""
        name = None
        for said in users:
            found = _NAME.search(said)
            if found:
                name = found.group(1)
        if text.strip() == "context?":
            shown = _CONTEXT.search(instructions or "")
            return _message(f"context: {shown.group(1) if shown else '{}'}")
        order = _ORDER_ID.search(text)
        if "refund" in tools and _REFUND.search(text):
            amount = _AMOUNT.search(text)
            args: dict[str, Any] = {
                "order_id": order.group(1) if order else "latest",
                "amount": float(amount.group(1)) if amount else 0.0,
            }
            return _call("refund", args, len(users))
        if "order_status" in tools and _ORDER.search(text):
            return _call(
                "order_status", {"order_id": order.group(1) if order else "latest"}, len(users)
            )
        if _ASKS_NAME.search(text):
            return _message(f"Your name is {name}." if name else "You have not told me your name.")
        if _NAME.search(text):
            return _message(f"Nice to meet you, {name}.")
        if _GREETING.search(text):
            return _message(f"Hello, {name}! How can I help?" if name else "Hello! How can I help?")
        for name_ in (
            [] if handed_over else sorted(tools)
        ):  # a handoff tool whose agent the user names: hand the conversation on
            target = name_.removeprefix("transfer_to_")
            if name_ != target and re.search(rf"\b{re.escape(target)}\b", text, re.IGNORECASE):
                return _call(name_, {}, len(users))
        return _message(f"You said: {text} (message {len(users)})")

    def _respond(
        self,
        instructions: str | None,
        input: str | list[TResponseInputItem],
        tools: list[Tool],
        handoffs: list[Handoff],
    ) -> tuple[TResponseOutputItem, Usage]:
        items: list[Any] = [{"role": "user", "content": input}] if isinstance(input, str) else input
        names = [tool.name for tool in tools] + [handoff.tool_name for handoff in handoffs]
        output = self.reply(items, names, instructions)
        words_out = len(_content_text(getattr(output, "content", None)).split()) or 1
        words_in = _words(items)
        usage = Usage(
            requests=1,
            input_tokens=words_in,
            output_tokens=words_out,
            total_tokens=words_in + words_out,
        )
        return output, usage

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        """The reply as one :class:`ModelResponse`."""
        output, usage = self._respond(system_instructions, input, tools, handoffs)
        return ModelResponse(output=[output], usage=usage, response_id=f"offline-{next(_IDS)}")

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The reply as Responses stream events: created, a text delta per word, the item
        done, completed (with usage)."""
        output, usage = self._respond(system_instructions, input, tools, handoffs)
        response = _response(output, usage)
        seq = itertools.count()
        yield ResponseCreatedEvent(
            type="response.created",
            response=response.model_copy(update={"output": [], "status": "in_progress"}),
            sequence_number=next(seq),
        )
        if isinstance(output, ResponseOutputMessage):
            words = _content_text([p.model_dump() for p in output.content]).split(" ")
            for i, word in enumerate(words):
                yield ResponseTextDeltaEvent(
                    type="response.output_text.delta",
                    item_id=output.id,
                    output_index=0,
                    content_index=0,
                    delta=word if i == len(words) - 1 else word + " ",
                    logprobs=[],
                    sequence_number=next(seq),
                )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=output, output_index=0, sequence_number=next(seq)
        )
        yield ResponseCompletedEvent(
            type="response.completed", response=response, sequence_number=next(seq)
        )


def _called_tool(items: list[Any], call_id: Any) -> str | None:
    for item in reversed(items):
        if _field(item, "type") == "function_call" and _field(item, "call_id") == call_id:
            name = _field(item, "name")
            return str(name) if name is not None else None
    return None


def _message(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=f"msg_offline_{next(_IDS)}",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


def _call(name: str, arguments: Mapping[str, Any], users: int) -> ResponseFunctionToolCall:
    serial = next(_IDS)
    return ResponseFunctionToolCall(
        id=f"fc_offline_{serial}",
        call_id=f"call_{users}_{serial}",
        type="function_call",
        name=name,
        arguments=json.dumps(dict(arguments), sort_keys=True),
        status="completed",
    )


def _response(output: TResponseOutputItem, usage: Usage) -> Response:
    return Response(
        id=f"offline-{next(_IDS)}",
        created_at=0,
        model="sessionful-offline",
        object="response",
        output=[output],
        tool_choice="auto",
        tools=[],
        top_p=None,
        parallel_tool_calls=False,
        status="completed",
        usage=ResponseUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        ),
    )
