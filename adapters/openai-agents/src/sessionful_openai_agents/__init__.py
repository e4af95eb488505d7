"""OpenAI Agents SDK adapter for sessionful: the only package of the workspace that imports
``agents``.

``SessionManager(framework="openai-agents")`` runs agents whose ``template_id`` names a
registered template: a builder returning an ``agents.Agent``, built once per template version
and configuration and shared by every session. A session is its list of SDK items, kept in a
:class:`SessionfulSession` (the manager's store under ``persisted``, fenced by the session's
lease; the factory's memory otherwise). Built-in templates: ``chat``, ``tool-agent`` (tools
``order_status`` and ``refund``, which needs approval) and ``agent`` (your own ``Agent`` by
``"module:attribute"``), on the offline model unless the configuration names ``"model"``.

Importing this package is cheap: the SDK loads on first use of a name that needs it (PEP 562
module ``__getattr__``), so the entry point costs nothing to managers of other frameworks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sessionful_openai_agents._plugin import (
    OpenAIAgentsFramework,
    register_frameworks,
    register_templates,
    template,
)

if TYPE_CHECKING:
    from sessionful_openai_agents._framework import (
        OpenAIAgentsFactory,
        OpenAIAgentsInstance,
        OpenAIAgentsSettings,
        from_item,
        to_item,
    )
    from sessionful_openai_agents.offline import OfflineModel
    from sessionful_openai_agents.session import SessionfulSession
    from sessionful_openai_agents.templates import (
        BuildContext,
        build_agent_reference,
        build_chat,
        build_tool_agent,
        load_agent,
        order_status,
        refund,
        resolve_model,
    )

__all__ = [
    "BuildContext",
    "OfflineModel",
    "OpenAIAgentsFactory",
    "OpenAIAgentsFramework",
    "OpenAIAgentsInstance",
    "OpenAIAgentsSettings",
    "SessionfulSession",
    "build_agent_reference",
    "build_chat",
    "build_tool_agent",
    "from_item",
    "load_agent",
    "order_status",
    "refund",
    "register_frameworks",
    "register_templates",
    "resolve_model",
    "template",
    "to_item",
]

_LAZY = {
    "OpenAIAgentsFactory": "_framework",
    "OpenAIAgentsInstance": "_framework",
    "OpenAIAgentsSettings": "_framework",
    "from_item": "_framework",
    "to_item": "_framework",
    "OfflineModel": "offline",
    "SessionfulSession": "session",
    "BuildContext": "templates",
    "build_agent_reference": "templates",
    "build_chat": "templates",
    "build_tool_agent": "templates",
    "load_agent": "templates",
    "order_status": "templates",
    "refund": "templates",
    "resolve_model": "templates",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sessionful_openai_agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sessionful_openai_agents.{module}"), name)
    globals()[name] = value
    return value
