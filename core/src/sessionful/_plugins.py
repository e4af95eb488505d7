"""The plugin manager: built-ins, entry points, typed accessors. The only caller of ``pm.hook``.

Each :class:`~sessionful.SessionManager` builds its own :class:`Plugins`, so the observers
one manager is given never fire for another, and tests need no global reset. Entry points in the
group ``sessionful`` are loaded for every one; ``SESSIONFUL_LOAD_PLUGINS`` (a comma-
separated list of entry-point names, empty for none) limits which.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from types import MappingProxyType, ModuleType
from typing import Any

import pluggy

from sessionful import hookspecs, stores, strategies
from sessionful.errors import ConfigurationError
from sessionful.factory import Framework
from sessionful.stores.base import SessionStore
from sessionful.strategies import SessionStrategy
from sessionful.templates import AgentTemplate

__all__ = ["LOAD_PLUGINS_ENV", "LifecycleHooks", "Plugins"]

logger = logging.getLogger("sessionful")

LOAD_PLUGINS_ENV = "SESSIONFUL_LOAD_PLUGINS"
_LIFECYCLE = (
    "session_created",
    "session_restored",
    "session_reused",
    "session_evicted",
    "session_ended",
    "turn_completed",
    "turn_interrupted",
)


class LifecycleHooks:
    """Calls one lifecycle hook; knows whether anything listens, so a silent hook costs nothing."""

    __slots__ = ("_caller", "active", "name", "wants")

    def __init__(self, name: str, caller: Any) -> None:
        self.name = name
        self._caller = caller
        self.refresh()

    def refresh(self) -> None:
        """Re-read whether any plugin implements the hook, and which arguments the
        implementations take (after a registration)."""
        impls = self._caller.get_hookimpls()
        self.active: bool = bool(impls)
        self.wants: frozenset[str] = frozenset(name for impl in impls for name in impl.argnames)
        """The arguments some implementation takes: a costly one nobody takes is not built."""

    def __call__(self, **kwargs: Any) -> None:
        try:
            self._caller(**kwargs)
        except Exception:
            # An observer must never break a turn or a sweep.
            logger.exception("sessionful hook %s raised; ignored", self.name)


class Plugins:
    """One pluggy ``PluginManager`` for project ``sessionful`` with typed accessors."""

    def __init__(self, plugins: Iterable[object] = (), *, load_entry_points: bool = True) -> None:
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        pm.register(strategies, name="sessionful.strategies")
        pm.register(stores, name="sessionful.stores")
        if load_entry_points:
            self._load_entry_points(pm)
        for plugin in plugins:
            pm.register(plugin)
        pm.check_pending()  # a misspelled hook name fails here, loudly
        self.pm = pm
        self._frameworks: Mapping[str, Framework] | None = None
        self._strategies: Mapping[str, SessionStrategy] | None = None
        self._templates: Mapping[tuple[str, str, str], AgentTemplate] | None = None
        self._stores: Mapping[str, type[SessionStore]] | None = None
        self.hooks = {name: LifecycleHooks(name, getattr(pm.hook, name)) for name in _LIFECYCLE}

    @staticmethod
    def _load_entry_points(pm: pluggy.PluginManager) -> None:
        allowed_env = os.environ.get(LOAD_PLUGINS_ENV)
        if allowed_env is None:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT)
            return
        allowed = {name.strip() for name in allowed_env.split(",") if name.strip()}
        found = {ep.name for ep in entry_points(group=hookspecs.PROJECT)}
        for name in sorted(allowed - found):
            logger.warning(
                "%s names %r, which no installed plugin provides", LOAD_PLUGINS_ENV, name
            )
        for name in sorted(allowed & found):
            pm.load_setuptools_entrypoints(hookspecs.PROJECT, name=name)

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register one more plugin (its lifecycle hooks fire from now on)."""
        self.pm.register(plugin, name=name)
        self.pm.check_pending()
        self._frameworks = self._strategies = None
        self._templates = None
        self._stores = None
        for hook in self.hooks.values():
            hook.refresh()

    def _collect(self, hook: str, kind: str, name_of: Callable[[Any], Any]) -> dict[Any, Any]:
        """Call each implementation of a registration hook on its own, so that a clash can name
        both plugins. Registration hooks run once per manager, off the hot path."""
        found: dict[Any, tuple[str, Any]] = {}
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            plugin = _describe(impl.plugin)

            def register(item: Any, plugin: str = plugin) -> None:
                name = name_of(item)
                if name in found and found[name][1] is not item:
                    raise ConfigurationError(
                        f"two plugins register the {kind} {name!r}: {found[name][0]} and {plugin}"
                    )
                found[name] = (plugin, item)

            impl.function(register=register)
        return {name: item for name, (_, item) in found.items()}

    def _named(self, kind: str) -> Callable[[Any], str]:
        def name_of(item: Any) -> str:
            name = getattr(item, "name", None)
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"a registered {kind} has no name: {item!r}")
            return name

        return name_of

    def get_frameworks(self) -> Mapping[str, Framework]:
        """Every registered framework by name."""
        if self._frameworks is None:
            self._frameworks = MappingProxyType(
                self._collect("register_frameworks", "framework", self._named("framework"))
            )
        return self._frameworks

    def get_strategies(self) -> Mapping[str, SessionStrategy]:
        """Every registered session strategy by name."""
        if self._strategies is None:
            self._strategies = MappingProxyType(
                self._collect("register_strategies", "strategy", self._named("strategy"))
            )
        return self._strategies

    def get_stores(self) -> Mapping[str, type[SessionStore]]:
        """Registered store classes by URL scheme."""
        if self._stores is None:

            def schemes(store: Any) -> tuple[str, ...]:
                found = getattr(store, "schemes", None)
                if not isinstance(store, type) or not issubclass(store, SessionStore) or not found:
                    raise ConfigurationError(
                        f"register_stores takes a SessionStore subclass with schemes, not {store!r}"
                    )
                return tuple(found)

            by_scheme: dict[str, type[SessionStore]] = {}
            for names, store in self._collect("register_stores", "store", schemes).items():
                for scheme in names:
                    if scheme in by_scheme and by_scheme[scheme] is not store:
                        raise ConfigurationError(
                            f"two stores serve the scheme {scheme!r}: "
                            f"{by_scheme[scheme].__qualname__} and {store.__qualname__}"
                        )
                    by_scheme[scheme] = store
            self._stores = MappingProxyType(by_scheme)
        return self._stores

    def all_templates(self) -> list[AgentTemplate]:
        """Every registered template, for every framework."""
        if self._templates is None:

            def triple(template: Any) -> tuple[str, str, str]:
                if not isinstance(template, AgentTemplate):
                    raise ConfigurationError(
                        f"register_templates takes an AgentTemplate, not {template!r}"
                    )
                return (template.framework, template.template_id, template.version)

            self._templates = MappingProxyType(
                self._collect("register_templates", "template", triple)
            )
        return list(self._templates.values())

    def get_templates(self, framework: str) -> Mapping[tuple[str, str], AgentTemplate]:
        """``framework``'s registered templates by ``(template_id, version)``."""
        return MappingProxyType(
            {
                (t.template_id, t.version): t
                for t in self.all_templates()
                if t.framework == framework
            }
        )

    def distributions(self) -> dict[str, str]:
        """Plugin name -> ``distribution==version`` for those loaded from entry points."""
        return {
            self.pm.get_name(plugin) or repr(plugin): f"{dist.project_name}=={dist.version}"
            for plugin, dist in self.pm.list_plugin_distinfo()
        }


def _describe(plugin: object) -> str:
    """A plugin as errors name it: its module, or its class for a plugin object."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    kind = type(plugin)
    return f"{kind.__module__}.{kind.__qualname__}"
