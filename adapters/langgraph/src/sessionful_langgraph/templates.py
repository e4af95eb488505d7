"""The built-in templates, ``chat``, ``tool-agent`` and ``graph``, and the model and tools they use.

A template is a builder: ``build(context)`` returns a ``StateGraph``, or a graph already compiled
(``builder.compile(...)``, ``create_react_agent(...)``, ``langchain.agents.create_agent(...)``),
whose compile options (``interrupt_before``, its name, its store) are kept: the checkpointer is the
one thing sessionful sets. The adapter builds each ``(template, version, configuration)`` once and
shares the compiled graph between sessions, so a builder runs once per configuration, not per
session. The ``graph`` template hosts a graph named in the configuration, as ``langgraph.json``
names one: ``{"graph": "my_package.agents:graph"}`` or ``{"graph": "./agents.py:graph"}``.
Platform teams register their own with the ``register_templates`` hook (see
``docs/langgraph.md``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
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
    "build_from_reference",
    "build_tool_agent",
    "load_reference",
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

    No ``"model"`` (or ``"offline"``): the deterministic :class:`OfflineChatModel`. Otherwise
    langchain's ``init_chat_model`` (the ``models`` extra): ``"model"`` is its model string
    (``"openai:gpt-4o-mini"``, or ``"gpt-4o-mini"`` where it infers the provider) or a table of
    its keyword arguments (``{"model": "gpt-4o-mini", "temperature": 0}``), and ``"model_kwargs"``
    adds keyword arguments (``base_url``, ``temperature``) to a string.
    """
    spec = configuration.get("model")
    if spec is None or spec == "offline":
        return OfflineChatModel()
    extra = configuration.get("model_kwargs") or {}
    if isinstance(spec, Mapping):
        kwargs = dict(spec)
    elif isinstance(spec, str) and spec:
        kwargs = {"model": spec}
    else:
        raise ConfigurationError(
            "configuration 'model' must be 'offline', a model string ('provider:model-name' or "
            f"'model-name') or a table of init_chat_model arguments, not {spec!r}"
        )
    if not isinstance(extra, Mapping) or not isinstance(kwargs.get("model"), str):
        raise ConfigurationError(
            f"configuration 'model' needs a model name and 'model_kwargs' a table: {spec!r}, "
            f"{extra!r}"
        )
    kwargs.update(extra)
    try:
        chat_models = importlib.import_module("langchain.chat_models")
    except ImportError as exc:
        raise ImportError(
            f"model {kwargs['model']!r} needs langchain's init_chat_model: "
            "pip install 'sessionful-langgraph[models]' and the provider's package"
        ) from exc
    model: BaseChatModel = chat_models.init_chat_model(**kwargs)
    return model


def load_reference(reference: str) -> Any:
    """The object ``reference`` names: ``"package.module:attribute"`` (importable) or
    ``"path/to/file.py:attribute"`` (relative to the working directory), as in
    ``langgraph.json``; dotted attributes reach into the object."""
    where, sep, attribute = reference.rpartition(":")
    if not sep or not where or not attribute:
        raise ConfigurationError(
            f"a graph reference is 'module:attribute' or 'file.py:attribute', not {reference!r}"
        )
    try:
        if where.endswith(".py") or "/" in where or "\\" in where:
            path = Path(where).resolve()
            name = f"sessionful_graph_{abs(hash(str(path)))}"
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.util.spec_from_file_location(name, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        found: Any = module
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, OSError) as exc:
        raise ConfigurationError(f"graph reference {reference!r} does not load: {exc}") from exc
    return found


def build_from_reference(context: BuildContext) -> Any:
    """The graph the configuration's ``"graph"`` names (a ``StateGraph``, a compiled graph, or a
    function returning one, called with the :class:`BuildContext` if it takes an argument)."""
    reference = context.configuration.get("graph")
    if not isinstance(reference, str):
        raise ConfigurationError(
            f"the 'graph' template needs configuration 'graph': 'module:attribute', not "
            f"{reference!r}"
        )
    found = load_reference(reference)
    if callable(found) and not hasattr(found, "compile") and not hasattr(found, "ainvoke"):
        takes = [
            p
            for p in inspect.signature(found).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        found = found(context) if takes else found()
    return found


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
