"""What the ``sessionful`` entry point loads: the framework and the built-in templates.

Deliberately light: nothing here imports langgraph or langchain-core, so every
``SessionManager`` (whatever its framework) can load this plugin in microseconds. The heavy
modules are imported the first time a LangGraph factory is built or a template is compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sessionful import AgentTemplate, ConfigurationError, Framework, Persistence, hookimpl

if TYPE_CHECKING:
    from sessionful_langgraph._framework import LangGraphFactory
    from sessionful_langgraph.templates import BuildContext

__all__ = ["LangGraphFramework", "register_frameworks", "register_templates", "template"]


class LangGraphFramework(Framework):
    """The ``langgraph`` framework: templates are ``StateGraph`` builders."""

    name: ClassVar[str] = "langgraph"
    # Under ``persisted`` a session lives in its checkpoints, in the manager's store and fenced
    # by its lease (``"native"``); the ``persistence="snapshot"`` setting (the default with
    # LangGraph's own savers) stores the thread's latest checkpoint with each turn instead, and
    # its instances say so themselves (``instance.persistence``).
    persistence: ClassVar[Persistence | None] = "native"
    snapshot_every: ClassVar[int] = 1
    interrupts: ClassVar[bool] = True
    uses_templates: ClassVar[bool] = True

    def create_agent_factory(self, settings: Mapping[str, Any]) -> LangGraphFactory:
        """A factory configured by :class:`LangGraphSettings` fields."""
        from pydantic import ValidationError

        from sessionful_langgraph._framework import LangGraphFactory, LangGraphSettings

        try:
            parsed = LangGraphSettings.model_validate(dict(settings))
        except ValidationError as exc:
            raise ConfigurationError(f"invalid langgraph settings: {exc}") from exc
        return LangGraphFactory(parsed)


def template(
    template_id: str, version: str, build: Callable[[BuildContext], object], description: str = ""
) -> AgentTemplate:
    """A LangGraph template for ``register_templates``: ``build(context)`` returns a
    ``StateGraph``, or a compiled graph (its compile options are kept), from
    ``context.configuration`` and ``context.model``."""
    return AgentTemplate(
        framework=LangGraphFramework.name,
        template_id=template_id,
        version=version,
        build=build,
        description=description or (build.__doc__ or "").strip().partition("\n")[0],
    )


def _chat(context: BuildContext) -> object:
    """One chat-model node over the conversation's messages."""
    from sessionful_langgraph.templates import build_chat

    return build_chat(context)


def _tool_agent(context: BuildContext) -> object:
    """A tool-calling loop (default tool: order_status)."""
    from sessionful_langgraph.templates import build_tool_agent

    return build_tool_agent(context)


def _graph(context: BuildContext) -> object:
    """The graph the configuration names: {"graph": "module:attribute"}."""
    from sessionful_langgraph.templates import build_from_reference

    return build_from_reference(context)


@hookimpl
def register_frameworks(register: Callable[[Framework], None]) -> None:
    """Register the ``langgraph`` framework."""
    register(LangGraphFramework())


@hookimpl
def register_templates(register: Callable[[AgentTemplate], None]) -> None:
    """Register the built-in ``chat``, ``tool-agent`` and ``graph`` templates, version 1."""
    register(template("chat", "1", _chat))
    register(template("tool-agent", "1", _tool_agent))
    register(template("graph", "1", _graph))
