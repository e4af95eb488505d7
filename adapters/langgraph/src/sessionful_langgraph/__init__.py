"""LangGraph adapter for sessionful: the only package of the workspace that imports langgraph.

``SessionManager(framework="langgraph")`` runs agents whose ``template_id`` / ``template_version``
name a registered template: a builder returning an uncompiled ``StateGraph``. Each template
configuration is compiled once; a session's instance is that compiled graph bound to
``thread_id = str(session_key)``. Built-in templates: ``chat`` and ``tool-agent`` (version
``"1"``), on the offline model unless the configuration names ``"model": "provider:name"``.

Importing this package is cheap: langgraph and langchain-core load on first use of a name that
needs them (PEP 562 module ``__getattr__``), so the entry point costs nothing to managers of
other frameworks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sessionful_langgraph._plugin import (
    LangGraphFramework,
    register_frameworks,
    register_templates,
    template,
)

if TYPE_CHECKING:
    from sessionful_langgraph._framework import (
        LangGraphAgent,
        LangGraphFactory,
        LangGraphSettings,
        from_langchain,
        strict_serializer,
        to_langchain,
    )
    from sessionful_langgraph.checkpointer import SessionCheckpointer
    from sessionful_langgraph.offline import OfflineChatModel
    from sessionful_langgraph.templates import (
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
    "SessionCheckpointer",
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

_LAZY = {
    "LangGraphAgent": "_framework",
    "LangGraphFactory": "_framework",
    "LangGraphSettings": "_framework",
    "from_langchain": "_framework",
    "strict_serializer": "_framework",
    "to_langchain": "_framework",
    "OfflineChatModel": "offline",
    "SessionCheckpointer": "checkpointer",
    "BuildContext": "templates",
    "build_chat": "templates",
    "build_tool_agent": "templates",
    "order_status": "templates",
    "resolve_model": "templates",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sessionful_langgraph' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sessionful_langgraph.{module}"), name)
    globals()[name] = value
    return value
