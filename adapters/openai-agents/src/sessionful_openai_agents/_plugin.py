"""What the ``sessionful`` entry point loads: the framework and the built-in templates.

Deliberately light: nothing here imports ``agents`` (the OpenAI Agents SDK), so every
``SessionManager`` (whatever its framework) loads this plugin in microseconds. The SDK is imported
the first time an ``openai-agents`` factory is made or a template is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sessionful import AgentTemplate, ConfigurationError, Framework, Persistence, hookimpl

if TYPE_CHECKING:
    from sessionful_openai_agents._framework import OpenAIAgentsFactory
    from sessionful_openai_agents.templates import BuildContext

__all__ = ["OpenAIAgentsFramework", "register_frameworks", "register_templates", "template"]


class OpenAIAgentsFramework(Framework):
    """The ``openai-agents`` framework: templates build an ``Agent``; a session is its items."""

    name: ClassVar[str] = "openai-agents"
    # The SDK keeps its own session state (a Session's items); under ``persisted`` they live in
    # the manager's store, fenced (SupportsNativeState), else in the factory's memory.
    native_sessions: ClassVar[bool] = True
    persistence: ClassVar[Persistence | None] = "native"
    interrupts: ClassVar[bool] = True
    uses_templates: ClassVar[bool] = True

    def create_agent_factory(self, settings: Mapping[str, Any]) -> OpenAIAgentsFactory:
        """A factory configured by :class:`OpenAIAgentsSettings` fields."""
        from pydantic import ValidationError

        from sessionful_openai_agents._framework import OpenAIAgentsFactory, OpenAIAgentsSettings

        try:
            parsed = OpenAIAgentsSettings.model_validate(dict(settings))
        except ValidationError as exc:
            raise ConfigurationError(f"invalid openai-agents settings: {exc}") from exc
        return OpenAIAgentsFactory(parsed)


def template(
    template_id: str, version: str, build: Callable[[BuildContext], object], description: str = ""
) -> AgentTemplate:
    """An OpenAI Agents template for ``register_templates``: ``build(context)`` returns an
    ``agents.Agent`` from ``context.configuration`` and ``context.model``."""
    return AgentTemplate(
        framework=OpenAIAgentsFramework.name,
        template_id=template_id,
        version=version,
        build=build,
        description=description or (build.__doc__ or "").strip().partition("\n")[0],
    )


def _chat(context: BuildContext) -> object:
    """A conversational agent with no tools."""
    from sessionful_openai_agents.templates import build_chat

    return build_chat(context)


def _tool_agent(context: BuildContext) -> object:
    """A support agent with tools (default: order_status, and refund, which needs approval)."""
    from sessionful_openai_agents.templates import build_tool_agent

    return build_tool_agent(context)


def _agent(context: BuildContext) -> object:
    """Your own Agent, named by configuration 'agent': 'module:attribute'."""
    from sessionful_openai_agents.templates import build_agent_reference

    return build_agent_reference(context)


@hookimpl
def register_frameworks(register: Callable[[Framework], None]) -> None:
    """Register the ``openai-agents`` framework."""
    register(OpenAIAgentsFramework())


@hookimpl
def register_templates(register: Callable[[AgentTemplate], None]) -> None:
    """Register the built-in ``chat``, ``tool-agent`` and ``agent`` templates, version 1."""
    register(template("chat", "1", _chat))
    register(template("tool-agent", "1", _tool_agent))
    register(template("agent", "1", _agent))
