"""Plugins: entry-point discovery, the load-list variable, validation, clashes, hook isolation."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar

import pytest
from pluggy import PluginValidationError

from sessionful import (
    ConfigurationError,
    Framework,
    LifecyclePolicy,
    SessionKey,
    SessionManager,
    SessionStats,
    UnknownFramework,
    UnknownStrategy,
    hookimpl,
)
from sessionful._plugins import LOAD_PLUGINS_ENV, Plugins
from sessionful_stub import StubFramework
from support import BOT, Cmd, ControlledFramework, FakeClock, Make, Recorder

# -- discovery ----------------------------------------------------------------------------------


def test_the_stub_is_found_through_its_entry_point() -> None:
    (stub_ep,) = [ep for ep in entry_points(group="sessionful") if ep.name == "stub"]
    assert stub_ep.value == "sessionful_stub"
    plugins = Plugins()
    frameworks = plugins.get_frameworks()
    assert isinstance(frameworks["stub"], StubFramework)
    assert plugins.distributions()["stub"].startswith("sessionful-stub==")


def test_without_entry_points_only_the_builtins_load() -> None:
    plugins = Plugins(load_entry_points=False)
    assert "stub" not in plugins.get_frameworks()
    assert {"shared", "per_session"} <= set(plugins.get_strategies())


def test_empty_load_list_loads_no_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOAD_PLUGINS_ENV, "")
    assert dict(Plugins().get_frameworks()) == {}
    assert {"shared", "per_session"} <= set(Plugins().get_strategies())  # built-ins stay
    with pytest.raises(UnknownFramework) as info:
        SessionManager(framework="stub")
    assert info.value.available == []
    assert "none" in str(info.value)


def test_load_list_names_the_plugins_to_load(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(LOAD_PLUGINS_ENV, " stub , not-installed ")
    with caplog.at_level(logging.WARNING, logger="sessionful"):
        plugins = Plugins()
    assert set(plugins.get_frameworks()) == {"stub"}
    assert "stub" in plugins.distributions()
    assert any("not-installed" in r.getMessage() for r in caplog.records)
    assert SessionManager(framework="stub").framework.name == "stub"


def test_a_plugin_passed_in_registers_a_framework_and_a_strategy(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    class ByPrincipal:
        name: ClassVar[str] = "by-principal"
        persistent: ClassVar[bool] = False

        def context_key(
            self, agent_id: str, session_id: str | None, namespace: str | None
        ) -> SessionKey:
            return SessionKey(agent_id, namespace=namespace)

    class Plugin:
        @hookimpl
        def register_frameworks(self, register: Callable[[Framework], None]) -> None:
            register(controlled)

        @hookimpl
        def register_strategies(self, register: Callable[[Any], None]) -> None:
            register(ByPrincipal())

    manager = make_manager(framework="controlled", strategy="by-principal", plugins=[Plugin()])
    assert manager.framework is controlled
    assert manager.strategy.name == "by-principal"
    with pytest.raises(UnknownStrategy) as info:
        make_manager(strategy="nope", plugins=[Plugin()])
    assert "by-principal" in info.value.available
    # Another manager without the plugin does not see it.
    with pytest.raises(UnknownFramework):
        make_manager(framework="controlled")


# -- validation ---------------------------------------------------------------------------------


def test_a_misspelled_hook_fails_at_construction(make_manager: Make) -> None:
    class Typo:
        @hookimpl
        def session_creatd(self, key: SessionKey) -> None:  # sic
            """Never called: no such hook."""

    with pytest.raises(PluginValidationError, match="session_creatd"):
        make_manager(plugins=[Typo()])
    with pytest.raises(PluginValidationError):
        Plugins([Typo()])
    manager = make_manager()
    with pytest.raises(PluginValidationError):
        manager.plugins.register(Typo())


def test_a_hook_asking_for_an_unknown_argument_fails_at_construction(make_manager: Make) -> None:
    class WrongArgument:
        @hookimpl
        def session_created(self, session_key: SessionKey) -> None:
            """``session_key`` is not an argument of the hook (``key`` is)."""

    with pytest.raises(PluginValidationError, match="session_key"):
        make_manager(plugins=[WrongArgument()])


def test_two_plugins_registering_one_framework_name_clash() -> None:
    class Impostor(Framework):
        name: ClassVar[str] = "stub"

        def create_agent_factory(self, settings: Mapping[str, Any]) -> Any:
            raise AssertionError("never built")

    class ImpostorPlugin:
        @hookimpl
        def register_frameworks(self, register: Callable[[Framework], None]) -> None:
            register(Impostor())

    with pytest.raises(ConfigurationError) as info:
        SessionManager(framework="stub", plugins=[ImpostorPlugin()])
    message = str(info.value)
    assert "'stub'" in message
    assert "sessionful_stub" in message
    assert Impostor.__module__ in message


def test_two_plugins_registering_one_strategy_name_clash() -> None:
    class Mine:
        name: ClassVar[str] = "shared"
        persistent: ClassVar[bool] = False

        def context_key(
            self, agent_id: str, session_id: str | None, namespace: str | None
        ) -> SessionKey:
            return SessionKey(agent_id)

    class Plugin:
        @hookimpl
        def register_strategies(self, register: Callable[[Any], None]) -> None:
            register(Mine())

    with pytest.raises(ConfigurationError, match="'shared'") as info:
        Plugins([Plugin()]).get_strategies()
    assert "sessionful.strategies" in str(info.value)


def test_a_nameless_framework_is_refused() -> None:
    class Nameless(Framework):
        pass

    class Plugin:
        @hookimpl
        def register_frameworks(self, register: Callable[[Framework], None]) -> None:
            register(Nameless())

    with pytest.raises(ConfigurationError, match="no name"):
        Plugins([Plugin()]).get_frameworks()


# -- lifecycle hooks ----------------------------------------------------------------------------


class Exploding:
    """Every lifecycle hook raises."""

    @hookimpl
    def session_created(self) -> None:
        raise RuntimeError("created hook exploded")

    @hookimpl
    def session_reused(self) -> None:
        raise RuntimeError("reused hook exploded")

    @hookimpl
    def turn_completed(self) -> None:
        raise RuntimeError("turn hook exploded")

    @hookimpl
    def session_evicted(self) -> None:
        raise RuntimeError("evicted hook exploded")

    @hookimpl
    def session_ended(self) -> None:
        raise RuntimeError("ended hook exploded")


async def test_a_raising_hook_is_logged_and_does_not_break_anything(
    make_manager: Make,
    cmd: Cmd,
    clock: FakeClock,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = make_manager(
        plugins=[Exploding(), recorder],
        lifecycle=LifecyclePolicy(idle_timeout=10, sweep_interval=None),
    )
    with caplog.at_level(logging.ERROR, logger="sessionful"):
        first = await manager.execute(cmd("hi", "s1"))
        second = await manager.execute(cmd("again", "s1"))
        await manager.execute(cmd("hi", "s2"))
        await manager.execute(cmd("hi", "s3"))
        await manager.end_session(BOT, "s3")
        clock.advance(10)
        report = await manager.cleanup_inactive()
    assert first.messages[-1].content == "echo #1: hi"
    assert second.instance_event == "reused"
    assert report.expired == 2  # the evicted hook raised for the first; the second still went
    assert manager.list_agents() == []
    # The recorder, registered after the exploding plugin, still saw every event.
    assert len(recorder.turns) == 4
    assert len(recorder.evicted) == 2
    logged = {r.getMessage() for r in caplog.records if r.levelno == logging.ERROR}
    for hook in ("session_created", "session_reused", "turn_completed", "session_evicted"):
        assert any(hook in message for message in logged), (hook, logged)
    assert any("session_ended" in message for message in logged)
    assert all(r.exc_info is not None for r in caplog.records if r.levelno == logging.ERROR)


async def test_hooks_given_to_one_manager_do_not_fire_for_another(
    make_manager: Make, cmd: Cmd, recorder: Recorder
) -> None:
    watched = make_manager(plugins=[recorder])
    unwatched = make_manager(plugins=[])
    await unwatched.execute(cmd("hi", "s1"))
    await unwatched.end_session(BOT, "s1")
    assert recorder.events == []
    await watched.execute(cmd("hi", "s1"))
    assert recorder.events == [("created", SessionKey(BOT, "s1")), ("turn", SessionKey(BOT, "s1"))]


async def test_a_plugin_registered_later_starts_receiving_hooks(
    make_manager: Make, cmd: Cmd, recorder: Recorder
) -> None:
    manager = make_manager(plugins=[])
    await manager.execute(cmd("hi", "s1"))
    manager.plugins.register(recorder)
    await manager.execute(cmd("again", "s1"))
    assert recorder.events == [("reused", SessionKey(BOT, "s1")), ("turn", SessionKey(BOT, "s1"))]


# -- the core imports no framework ----------------------------------------------------------------

_FRAMEWORKS = (
    "langgraph",
    "langchain",
    "langchain_core",
    "openai",
    "anthropic",
    "llama_index",
    "autogen",
    "crewai",
    "pydantic_ai",
    "sessionful_stub",
    "sessionful_langgraph",
)


def test_importing_the_core_pulls_in_no_agent_framework() -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        import sessionful
        roots = {{name.split(".")[0] for name in sys.modules}}
        print(json.dumps(sorted(roots & set({list(_FRAMEWORKS)!r}))))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != LOAD_PLUGINS_ENV}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(done.stdout) == []


async def test_a_reused_hook_that_takes_stats_gets_them_and_one_that_does_not_costs_none(
    make_manager: Make, cmd: Cmd, recorder: Recorder
) -> None:
    """``session_reused`` builds the session's stats only when some implementation takes them
    (the service's metrics take only the key, on every turn)."""

    class WithStats:
        def __init__(self) -> None:
            self.seen: list[int] = []

        @hookimpl
        def session_reused(self, key: SessionKey, stats: SessionStats) -> None:
            self.seen.append(stats.turn_count)

    key_only = make_manager(plugins=[recorder])
    assert key_only._on_reused.active and "stats" not in key_only._on_reused.wants
    await key_only.execute(cmd("hi", "s1"))
    await key_only.execute(cmd("again", "s1"))
    assert recorder.reused == [SessionKey(BOT, "s1")]

    watcher = WithStats()
    manager = make_manager(plugins=[])
    await manager.execute(cmd("hi", "s1"))
    manager.plugins.register(watcher)
    assert "stats" in manager._on_reused.wants
    await manager.execute(cmd("again", "s1"))
    await manager.execute(cmd("and again", "s1"))
    assert watcher.seen == [1, 2]  # as of the end of the previous turn
