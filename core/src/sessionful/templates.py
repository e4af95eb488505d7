"""Agent templates: what a framework builds an agent from, registered by plugins.

A template is named ``(template_id, version)`` within a framework; its ``build`` callable is the
framework's business (a LangGraph template returns an uncompiled ``StateGraph``). Plugins register
templates with the ``register_templates`` hook, so a platform team ships its own from its own
package. For a framework whose ``uses_templates`` is true, the manager checks an agent's template
when the agent is registered and hands it to the factory in ``AgentCreateRequest.template``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["AgentTemplate"]


class AgentTemplate(BaseModel):
    """One version of one template, for one framework."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    framework: str
    """The framework whose factory understands ``build``."""
    template_id: str
    version: str
    build: Callable[..., Any]
    """The framework-specific builder."""
    description: str = ""

    @property
    def ref(self) -> str:
        """``template_id@version``, as errors and listings show it."""
        return f"{self.template_id}@{self.version}"
