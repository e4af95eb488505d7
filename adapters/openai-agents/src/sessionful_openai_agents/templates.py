"""The built-in templates, ``chat``, ``tool-agent`` and ``agent``, and the tools they use.

A template is a builder: ``build(context) -> Agent``. The adapter builds each ``(template,
version, configuration)`` once and shares the ``Agent`` between sessions (an ``Agent`` is a
description, not a conversation; the conversation is the session's items). The ids are the
LangGraph adapter's, so switching frameworks is a configuration change.

Configuration keys the built-ins read: ``model`` (``"offline"``, the default, or a model name the
SDK resolves, such as ``"gpt-4.1-mini"``, which needs ``OPENAI_API_KEY``), ``instructions``,
``tools`` (names from :data:`BUILTIN_TOOLS`), ``name``; and for ``agent``, ``"agent":
"module:attribute"`` naming your own ``Agent``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents import Agent, FunctionTool, Model, RunContextWrapper, function_tool

from sessionful import ConfigurationError
from sessionful_openai_agents.offline import OfflineModel

__all__ = [
    "BUILTIN_TOOLS",
    "BuildContext",
    "build_agent_reference",
    "build_chat",
    "build_tool_agent",
    "load_agent",
    "order_status",
    "refund",
    "resolve_model",
]

_STATUSES = ("processing", "shipped", "out for delivery", "delivered")


@function_tool
def order_status(order_id: str = "latest") -> str:
    """Look up the status of an order by its id ("latest" for the customer's latest order)."""
    if order_id == "latest":
        return "order A-1001 has shipped and arrives on Friday"
    status = _STATUSES[sum(order_id.encode()) % len(_STATUSES)]
    return f"order {order_id} is {status}"


@function_tool(needs_approval=True)
def refund(order_id: str = "latest", amount: float = 0.0) -> str:
    """Refund an amount on an order. A person must approve it first."""
    order = "A-1001" if order_id == "latest" else order_id
    return f"refunded ${amount:.2f} on order {order}"


BUILTIN_TOOLS: Mapping[str, FunctionTool] = {"order_status": order_status, "refund": refund}
"""Tools a configuration can name in ``"tools"``."""


@dataclass(frozen=True)
class BuildContext:
    """What a template builder gets: the agent's configuration and the model it names."""

    configuration: Mapping[str, Any]
    model: Model | str


def resolve_model(configuration: Mapping[str, Any]) -> Model | str:
    """The model the configuration names: the offline model by default, else the name (the SDK
    resolves it through its model provider, which needs a key)."""
    spec = configuration.get("model")
    if spec is None or spec == "offline":
        return OfflineModel()
    if not isinstance(spec, str) or not spec:
        raise ConfigurationError(
            f"configuration 'model' must be 'offline' or a model name: {spec!r}"
        )
    return spec


def _tools(configuration: Mapping[str, Any], default: tuple[str, ...]) -> list[FunctionTool]:
    names = configuration.get("tools", list(default))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigurationError(f"configuration 'tools' must be a list of tool names: {names!r}")
    unknown = sorted(set(names) - set(BUILTIN_TOOLS))
    if unknown:
        raise ConfigurationError(f"unknown tools {unknown}; available: {sorted(BUILTIN_TOOLS)}")
    return [BUILTIN_TOOLS[name] for name in names]


def _instructions(base: str) -> Any:
    """Instructions that show the turn's context to the model (the run context is the turn's
    ``context`` dict; the offline model answers ``context?`` from it)."""

    def instructions(wrapper: RunContextWrapper[Any], agent: Agent[Any]) -> str:
        context = wrapper.context
        if isinstance(context, Mapping) and context:
            shown = json.dumps(dict(context), sort_keys=True, separators=(",", ":"))
            return f"{base}\nContext: {shown}"
        return base

    return instructions


def _name(configuration: Mapping[str, Any], default: str) -> str:
    name = configuration.get("name", default)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"configuration 'name' must be a non-empty string: {name!r}")
    return name


def build_chat(context: BuildContext) -> Agent[Any]:
    """A conversational agent with no tools."""
    configuration = context.configuration
    return Agent(
        name=_name(configuration, "Assistant"),
        instructions=_instructions(str(configuration.get("instructions", "Be helpful."))),
        model=context.model,
        tools=list(_tools(configuration, ())),
    )


def build_tool_agent(context: BuildContext) -> Agent[Any]:
    """A support agent with tools: ``order_status`` and ``refund`` (which needs approval) by
    default, or the configuration's ``"tools"``."""
    configuration = context.configuration
    return Agent(
        name=_name(configuration, "Support"),
        instructions=_instructions(
            str(
                configuration.get(
                    "instructions",
                    "You help customers with their orders. Look orders up with order_status; "
                    "refunds go through the refund tool, which a person approves.",
                )
            )
        ),
        model=context.model,
        tools=list(_tools(configuration, ("order_status", "refund"))),
    )


def load_agent(reference: str) -> Agent[Any]:
    """The ``Agent`` a ``"module:attribute"`` reference names (a dotted attribute path is
    followed; a zero-argument callable is called)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"an agent reference looks like 'module:attribute', not {reference!r}"
        )
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load agent {reference!r}: {exc}") from exc
    if not isinstance(value, Agent) and callable(value):
        value = value()
    if not isinstance(value, Agent):
        raise ConfigurationError(f"{reference!r} is a {type(value).__name__}, not an agents.Agent")
    return value


def build_agent_reference(context: BuildContext) -> Agent[Any]:
    """Your own ``Agent``, named by the configuration's ``"agent": "module:attribute"``; its
    model is kept unless the configuration names one."""
    reference = context.configuration.get("agent")
    if not isinstance(reference, str):
        raise ConfigurationError(
            "the 'agent' template needs configuration 'agent': 'module:attribute'"
        )
    agent = load_agent(reference)
    if "model" in context.configuration:
        agent = agent.clone(model=context.model)
    return agent
