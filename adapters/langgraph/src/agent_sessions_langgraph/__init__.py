"""LangGraph adapter for agent-sessions: the only package of the workspace that imports langgraph.

``SessionManager(framework="langgraph")`` runs agents whose ``template_id`` / ``template_version``
name a registered template: a builder returning an uncompiled ``StateGraph``. Each template
configuration is compiled once; a session's instance is that compiled graph bound to
``thread_id = str(session_key)``. Built-in templates: ``chat`` and ``tool-agent`` (version
``"1"``), on the offline model unless the configuration names ``"model": "provider:name"``.
"""

from __future__ import annotations

from collections.abc import Callable

from agent_sessions import AgentTemplate, Framework, hookimpl
from agent_sessions_langgraph._framework import (
    LangGraphAgent,
    LangGraphFactory,
    LangGraphFramework,
    LangGraphSettings,
    from_langchain,
    strict_serializer,
    to_langchain,
)
from agent_sessions_langgraph.offline import OfflineChatModel
from agent_sessions_langgraph.templates import (
    BuildContext,
    build_chat,
    build_tool_agent,
    order_status,
    resolve_model,
)

__all__ = [
    "BuildContext",
    "LangGraphAgent",
    "LangGraphFactory",
    "LangGraphFramework",
    "LangGraphSettings",
    "OfflineChatModel",
    "build_chat",
    "build_tool_agent",
    "from_langchain",
    "order_status",
    "register_frameworks",
    "register_templates",
    "resolve_model",
    "strict_serializer",
    "template",
    "to_langchain",
]


def template(
    template_id: str, version: str, build: Callable[[BuildContext], object], description: str = ""
) -> AgentTemplate:
    """A LangGraph template for ``register_templates``: ``build(context)`` returns a
    ``StateGraph`` (uncompiled) from ``context.configuration`` and ``context.model``."""
    return AgentTemplate(
        framework=LangGraphFramework.name,
        template_id=template_id,
        version=version,
        build=build,
        description=description or (build.__doc__ or "").strip().splitlines()[0],
    )


@hookimpl
def register_frameworks(register: Callable[[Framework], None]) -> None:
    """Register the ``langgraph`` framework."""
    register(LangGraphFramework())


@hookimpl
def register_templates(register: Callable[[AgentTemplate], None]) -> None:
    """Register the built-in ``chat`` and ``tool-agent`` templates, version 1."""
    register(template("chat", "1", build_chat))
    register(template("tool-agent", "1", build_tool_agent))
