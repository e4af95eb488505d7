"""The built-in templates, ``chat`` and ``tool-agent``, and the model and tool they use.

A template is a builder: ``build(context) -> StateGraph`` (uncompiled). The adapter compiles each
``(template, version, configuration)`` once and shares the compiled graph between sessions, so a
builder runs once per configuration, not per session. Platform teams register their own with the
``register_templates`` hook (see ``docs/langgraph.md``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool, tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import interrupt

from sessionful import ConfigurationError
from sessionful_langgraph.offline import OfflineChatModel

__all__ = [
    "BUILTIN_TOOLS",
    "BuildContext",
    "build_chat",
    "build_tool_agent",
    "order_status",
    "refund",
    "resolve_model",
]

_STATUSES = ("processing", "shipped", "out for delivery", "delivered")


@tool
def order_status(order_id: str = "latest") -> str:
    """Look up the status of an order by its id (``"latest"`` for the customer's latest order)."""
    if order_id == "latest":
        return "order A-1001 has shipped and arrives on Friday"
    status = _STATUSES[sum(order_id.encode()) % len(_STATUSES)]
    return f"order {order_id} is {status}"


_YES = frozenset({"yes", "y", "approve", "approved", "ok", "true"})


@tool
def refund(order_id: str = "latest", amount: float = 0.0) -> str:
    """Refund ``amount`` dollars on an order. A person approves it first: the tool stops the turn
    with an interrupt asking ``{"tool": "refund", "args": ..., "question": ...}`` and goes on
    once the answer is "yes" (or ``True``), declining on anything else."""
    order = "A-1001" if order_id == "latest" else order_id
    question = f"Refund ${amount:.2f} on order {order}?"
    answer = interrupt(
        {"tool": "refund", "args": {"order_id": order, "amount": amount}, "question": question}
    )
    approved = answer is True or (isinstance(answer, str) and answer.strip().lower() in _YES)
    if approved:
        return f"refund of ${amount:.2f} on order {order} approved and issued"
    return f"refund on order {order} not approved ({answer!r}); nothing was refunded"


BUILTIN_TOOLS: Mapping[str, BaseTool] = {"order_status": order_status, "refund": refund}
"""Tools a configuration can name in ``"tools"``."""


@dataclass(frozen=True)
class BuildContext:
    """What a template builder gets: the agent's configuration and the model it names."""

    configuration: Mapping[str, Any]
    model: BaseChatModel


def resolve_model(configuration: Mapping[str, Any]) -> BaseChatModel:
    """The chat model the configuration names.

    No ``"model"`` (or ``"offline"``): the deterministic :class:`OfflineChatModel`.
    ``"provider:model-name"``: langchain's ``init_chat_model``, which needs the ``models`` extra.
    """
    spec = configuration.get("model")
    if spec is None or spec == "offline":
        return OfflineChatModel()
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigurationError(
            f"configuration 'model' must be 'offline' or 'provider:model-name', not {spec!r}"
        )
    try:
        chat_models = importlib.import_module("langchain.chat_models")
    except ImportError as exc:
        raise ImportError(
            f"model {spec!r} needs langchain's init_chat_model: "
            "pip install 'sessionful-langgraph[models]' and the provider's package"
        ) from exc
    model: BaseChatModel = chat_models.init_chat_model(spec)
    return model


def resolve_tools(
    configuration: Mapping[str, Any], default: tuple[str, ...]
) -> tuple[BaseTool, ...]:
    names = configuration.get("tools", list(default))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigurationError(
            f"configuration 'tools' must be a list of tool names, not {names!r}"
        )
    unknown = sorted(set(names) - set(BUILTIN_TOOLS))
    if unknown:
        raise ConfigurationError(f"unknown tools {unknown}; available: {sorted(BUILTIN_TOOLS)}")
    return tuple(BUILTIN_TOOLS[name] for name in names)


def build_chat(context: BuildContext) -> StateGraph[Any]:
    """One chat-model node over the conversation's messages."""
    model = context.model

    async def respond(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", respond)
    graph.add_edge(START, "model")
    graph.add_edge("model", END)
    return graph


def build_tool_agent(context: BuildContext) -> StateGraph[Any]:
    """A tool-calling loop: the model calls tools until it answers in words. Tools: the
    configuration's ``"tools"`` (default ``["order_status", "refund"]``; ``refund`` asks a
    person for approval through an interrupt)."""
    tools = list(resolve_tools(context.configuration, ("order_status", "refund")))
    model = context.model.bind_tools(tools)

    async def respond(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", respond)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph
