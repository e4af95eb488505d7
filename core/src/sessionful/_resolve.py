"""Resolving what a manager is built from: a framework and a strategy, by name (through the
plugins) or as objects."""

from __future__ import annotations

from sessionful._plugins import Plugins
from sessionful.errors import ConfigurationError, UnknownFramework, UnknownStrategy
from sessionful.factory import Framework
from sessionful.strategies import SessionStrategy

__all__ = ["resolve_framework", "resolve_strategy"]


def resolve_framework(plugins: Plugins, framework: str | Framework) -> Framework:
    """The framework ``framework`` names (or is); raises ``UnknownFramework``."""
    if isinstance(framework, str):
        available = plugins.get_frameworks()
        if framework not in available:
            raise UnknownFramework(framework, available)
        return available[framework]
    if not callable(getattr(framework, "create_agent_factory", None)):
        raise ConfigurationError(f"framework must be a name or a Framework, not {framework!r}")
    return framework


def resolve_strategy(plugins: Plugins, strategy: str | SessionStrategy) -> SessionStrategy:
    """The strategy ``strategy`` names (or is); raises ``UnknownStrategy``."""
    if isinstance(strategy, str):
        available = plugins.get_strategies()
        if strategy not in available:
            raise UnknownStrategy(strategy, available)
        found = available[strategy]
    elif isinstance(strategy, SessionStrategy):
        found = strategy
    else:
        raise ConfigurationError(f"strategy must be a name or a strategy, not {strategy!r}")
    return found
