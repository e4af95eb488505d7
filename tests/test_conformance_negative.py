"""The conformance suite catches broken adapters.

A tiny, correct adapter passes the suite's tests when they are called directly; each variant
below breaks one rule, and the suite test that guards that rule must fail on it. Without these,
a suite whose checks were vacuous would pass every adapter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sessionful import (
    AgentCreateRequest,
    AgentDefinition,
    AgentFactory,
    AgentInstance,
    AgentTemplate,
    ChatMessage,
    ConfigurationError,
    Framework,
    Persistence,
    SessionKey,
    hookimpl,
)
from sessionful.testing import AdapterTests, AdapterUnderTest

AGENT = AgentDefinition(id="conformance", name="Conformance", template_id="tiny")


class TinyAgent:
    """Replies ``seen: <every user text so far>``, so the suite's default ``recalls`` fits."""

    def __init__(self, key: SessionKey, history: list[ChatMessage]) -> None:
        self.key = key
        self.history = history

    async def ainvoke(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        self.history.extend(messages)
        seen = " | ".join(m.content for m in self.history if m.role == "user")
        reply = ChatMessage.assistant(f"seen: {seen}")
        self.history.append(reply)
        return [reply]

    def snapshot(self) -> dict[str, Any]:
        return {"version": 1, "history": [m.model_dump(mode="json") for m in self.history]}

    def restore(self, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]) -> None:
        saved = [] if snapshot is None else snapshot["history"]
        self.history = [*(ChatMessage.model_validate(m) for m in saved), *messages]


class TinyFactory(AgentFactory):
    agent_class: type[TinyAgent] = TinyAgent

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        return self.agent_class(request.key, [])

    async def destroy_agent(self, instance: AgentInstance) -> None:
        return None


class TinyFramework(Framework):
    name: ClassVar[str] = "tiny"
    persistence: ClassVar[Persistence | None] = "snapshot"
    factory_class: ClassVar[type[TinyFactory]] = TinyFactory

    def create_agent_factory(self, settings: Mapping[str, Any]) -> AgentFactory:
        return self.factory_class()


def broken(factory_class: type[TinyFactory]) -> TinyFramework:
    """A tiny framework whose factory is ``factory_class``."""
    return type("BrokenFramework", (TinyFramework,), {"factory_class": factory_class})()


def broken_agent(**methods: Any) -> TinyFramework:
    """A tiny framework whose instances override ``methods``."""
    agent_class = type("BrokenAgent", (TinyAgent,), methods)
    return broken(type("BrokenFactory", (TinyFactory,), {"agent_class": agent_class}))


# -- the broken variants ------------------------------------------------------------------------


class SharedStateFactory(TinyFactory):
    """Every instance writes to one history on the factory."""

    def __init__(self) -> None:
        self.history: list[ChatMessage] = []

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        return TinyAgent(request.key, self.history)


class ActiveAgentsFactory(TinyFactory):
    """The original design's bug: an ``active_agents`` map that destroy never empties."""

    def __init__(self) -> None:
        self.active_agents: dict[str, AgentInstance] = {}

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        instance = await super().create_agent(request)
        self.active_agents[request.id] = instance
        return instance


_EVERY_INSTANCE_EVER: list[AgentInstance] = []


class GlobalLeakFactory(TinyFactory):
    """Keeps instances in a module-level list, so they outlive the factory."""

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        instance = await super().create_agent(request)
        _EVERY_INSTANCE_EVER.append(instance)
        return instance


class LingeringFactory(TinyFactory):
    """Keeps each key's history across destroy_agent while declaring in-memory sessions."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[ChatMessage]] = {}

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        return TinyAgent(request.key, self.by_key.setdefault(request.id, []))


class AgentLevelKeyFactory(TinyFactory):
    """Binds every instance to the agent-level key, dropping the session."""

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        return TinyAgent(request.key.agent_key(), [])


class SessionIdOnlyFactory(TinyFactory):
    """Keeps context by session id alone, so two namespaces share a conversation."""

    def __init__(self) -> None:
        self.by_session: dict[str | None, list[ChatMessage]] = {}

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        history = self.by_session.setdefault(request.key.session_id, [])
        return TinyAgent(request.key, history)


class SyncCreateFactory(TinyFactory):
    """``create_agent`` without ``async``."""

    def create_agent(self, request: AgentCreateRequest) -> AgentInstance:  # type: ignore[override]
        return TinyAgent(request.key, [])


async def _whole_history(self: TinyAgent, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    await TinyAgent.ainvoke(self, messages)
    return list(self.history)


async def _forgetful(self: TinyAgent, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    return [ChatMessage.assistant(f"seen: {messages[-1].content}")]


async def _user_last(self: TinyAgent, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    return [*await TinyAgent.ainvoke(self, messages), ChatMessage.user("and you?")]


async def _raw_dicts(self: TinyAgent, messages: Sequence[ChatMessage]) -> list[Any]:
    return [m.model_dump() for m in await TinyAgent.ainvoke(self, messages)]


async def _last_message_only(self: TinyAgent, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    return await TinyAgent.ainvoke(self, messages[-1:])


def _tuple_snapshot(self: TinyAgent) -> dict[str, Any]:
    return {"version": 1, "history": tuple(m.model_dump(mode="json") for m in self.history)}


class LiveStateAgent(TinyAgent):
    """Keeps its state as a JSON dict and hands that very dict out as its snapshot."""

    def __init__(self, key: SessionKey, history: list[ChatMessage]) -> None:
        super().__init__(key, history)
        self.state: dict[str, Any] = {"version": 1, "history": []}

    async def ainvoke(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        reply = await super().ainvoke(messages)
        self.state["history"] = [m.model_dump(mode="json") for m in self.history]
        return reply

    def snapshot(self) -> dict[str, Any]:
        return self.state


def _ignoring_restore(
    self: TinyAgent, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
) -> None:
    return None


def _no_replay_restore(
    self: TinyAgent, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
) -> None:
    saved = [] if snapshot is None else snapshot["history"]
    self.history = [ChatMessage.model_validate(m) for m in saved]  # drops the logged turns


BROKEN: list[tuple[str, TinyFramework, str]] = [
    ("shares state across keys", broken(SharedStateFactory), "test_distinct_keys_are_isolated"),
    (
        "shares state across keys",
        broken(SharedStateFactory),
        "test_concurrent_create_on_distinct_keys",
    ),
    (
        "shares state across keys",
        broken(SharedStateFactory),
        "test_session_manager_creates_then_reuses",
    ),
    (
        "keys context by session id only",
        broken(SessionIdOnlyFactory),
        "test_create_agent_accepts_any_valid_key",
    ),
    (
        "binds the wrong key",
        broken(AgentLevelKeyFactory),
        "test_create_agent_returns_instance_bound_to_key",
    ),
    (
        "create_agent is not async",
        broken(SyncCreateFactory),
        "test_create_agent_returns_instance_bound_to_key",
    ),
    (
        "returns the whole history",
        broken_agent(ainvoke=_whole_history),
        "test_ainvoke_returns_only_new_messages",
    ),
    (
        "ends a turn with a user message",
        broken_agent(ainvoke=_user_last),
        "test_ainvoke_returns_only_new_messages",
    ),
    (
        "returns dicts, not ChatMessage",
        broken_agent(ainvoke=_raw_dicts),
        "test_ainvoke_returns_only_new_messages",
    ),
    (
        "keeps only the last message of a turn",
        broken_agent(ainvoke=_last_message_only),
        "test_ainvoke_accepts_several_messages_in_one_turn",
    ),
    (
        "forgets earlier turns",
        broken_agent(ainvoke=_forgetful),
        "test_instance_keeps_context_across_turns",
    ),
    (
        "keeps an active_agents map",
        broken(ActiveAgentsFactory),
        "test_destroy_agent_releases_instance",
    ),
    (
        "keeps state after destroy",
        broken(LingeringFactory),
        "test_recreated_instance_starts_fresh",
    ),
    (
        "snapshots a tuple",
        broken_agent(snapshot=_tuple_snapshot),
        "test_snapshot_round_trips_through_json",
    ),
    (
        "snapshots its live state",
        broken(type("LiveStateFactory", (TinyFactory,), {"agent_class": LiveStateAgent})),
        "test_snapshot_round_trips_through_json",
    ),
    (
        "ignores restore",
        broken_agent(restore=_ignoring_restore),
        "test_restored_snapshot_continues_conversation",
    ),
    (
        "restore ignores the message log",
        broken_agent(restore=_no_replay_restore),
        "test_restore_replays_logged_messages",
    ),
]

# Every suite test that runs on the tiny adapter without a subprocess or the entry points.
DIRECT = [
    name
    for name in dir(AdapterTests)
    if name.startswith("test_")
    and name
    not in (
        "test_framework_registered_through_entry_point",
        "test_package_import_has_no_side_effects",
        "test_native_persistence_survives_recreate",
    )
]


class TinySuite(AdapterTests):
    """The suite as a tiny adapter's test class would subclass it (not collected: no Test)."""


async def run(
    framework: Framework | str,
    test: str,
    suite: AdapterTests | None = None,
    plugins: Sequence[object] = (),
) -> None:
    adapter = AdapterUnderTest.resolve(framework, {}, AGENT, plugins)
    method = getattr(suite or TinySuite(), test)
    if test == "test_framework_is_well_formed":
        method(adapter)
    else:
        await method(adapter)


@pytest.mark.parametrize("test", DIRECT)
async def test_a_correct_adapter_passes(test: str) -> None:
    await run(TinyFramework(), test)


@pytest.mark.parametrize(
    ("flaw", "framework", "test"), BROKEN, ids=[f"{flaw}-{test}" for flaw, _, test in BROKEN]
)
async def test_a_broken_adapter_fails(flaw: str, framework: TinyFramework, test: str) -> None:
    with pytest.raises(AssertionError):
        await run(framework, test)


async def test_a_global_leak_fails_even_when_the_factory_may_keep_instances() -> None:
    class Lenient(TinySuite):
        releases_instances = False

    await run(broken(ActiveAgentsFactory), "test_destroy_agent_releases_instance", Lenient())
    with pytest.raises(AssertionError, match="outlived its factory"):
        await run(broken(GlobalLeakFactory), "test_destroy_agent_releases_instance", Lenient())
    _EVERY_INSTANCE_EVER.clear()


async def test_a_recalls_check_that_always_agrees_fails() -> None:
    class Credulous(TinySuite):
        def recalls(self, reply: ChatMessage, earlier: Sequence[str]) -> bool:
            return True

    with pytest.raises(AssertionError, match="stricter"):
        await run(TinyFramework(), "test_instance_keeps_context_across_turns", Credulous())


async def test_capabilities_turn_tests_into_skips() -> None:
    in_memory = type("InMemory", (TinyFramework,), {"persistence": None})()
    with pytest.raises(pytest.skip.Exception, match="persistence=None"):
        await run(in_memory, "test_restored_snapshot_continues_conversation")
    with pytest.raises(pytest.skip.Exception, match="persistence='native'"):
        await run(TinyFramework(), "test_native_persistence_survives_recreate")
    native = type("Native", (TinyFramework,), {"native_sessions": True})()
    with pytest.raises(pytest.skip.Exception, match="keeps sessions itself"):
        await run(native, "test_recreated_instance_starts_fresh")


def test_a_framework_is_found_by_its_registered_name() -> None:
    assert AdapterUnderTest.resolve("stub", None, AGENT).name == "stub"
    with pytest.raises(pytest.fail.Exception, match="no installed plugin registers"):
        AdapterUnderTest.resolve("no-such-framework", None, AGENT)


def test_an_unregistered_framework_fails_the_entry_point_test() -> None:
    with pytest.raises(AssertionError, match="no installed plugin registers"):
        TinySuite().test_framework_registered_through_entry_point(
            AdapterUnderTest.resolve(TinyFramework(), {}, AGENT)
        )


def test_an_import_with_side_effects_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    noisy, run_dir = tmp_path / "pkg", tmp_path / "run"
    noisy.mkdir()
    run_dir.mkdir()
    (noisy / "noisy_adapter.py").write_text(
        "import logging, warnings\n"
        "logging.basicConfig()\n"
        "warnings.warn('configured at import', UserWarning)\n"
        "open('created-at-import.txt', 'w').close()\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PYTHONPATH", str(noisy))

    class Noisy(TinySuite):
        adapter_module = "noisy_adapter"

    adapter = AdapterUnderTest.resolve(TinyFramework(), {}, AGENT)
    with pytest.raises(AssertionError) as caught:
        Noisy().test_package_import_has_no_side_effects(adapter, run_dir)
    message = str(caught.value)
    for effect in ("warnings", "root logging handlers added", "created-at-import.txt"):
        assert effect in message


def test_the_suite_needs_its_extra() -> None:
    probe = "import sys; sys.modules['pytest'] = None; import sessionful.testing"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert "pip install 'sessionful[testing]'" in done.stderr


def test_the_core_does_not_import_the_suite() -> None:
    probe = (
        "import sys, sessionful, sessionful_stub; "
        "print(sorted({'pytest', 'sessionful.testing'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


def test_public_api() -> None:
    import sessionful
    import sessionful.testing as testing

    assert testing.__all__ == sorted(testing.__all__)
    assert testing.__all__ == [
        "AdapterFixtures",
        "AdapterTests",
        "AdapterUnderTest",
        "FactoryTests",
        "Harness",
        "ManagerTests",
        "PackageTests",
        "PersistenceTests",
    ]
    assert not set(testing.__all__) & set(sessionful.__all__)
    for name in testing.__all__:
        assert not name.startswith("Test"), "pytest would collect it in every adapter's tests"


def test_the_documented_usage_is_the_stub_test_file() -> None:
    import sessionful.testing as testing

    doc = testing.__doc__ or ""
    example = textwrap.dedent(doc.split("::\n\n", 1)[1].split("\nInstall it", 1)[0]).strip()
    stub_tests = Path(__file__).parents[1] / "adapters" / "stub" / "tests" / "test_conformance.py"
    assert example in stub_tests.read_text(encoding="utf-8")


class TemplatedFactory(TinyFactory):
    """Builds only from the template the manager resolved, as the LangGraph adapter does."""

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        if request.template is None or request.template.template_id != "tiny":
            raise ConfigurationError(f"no template in {request!r}")
        return await super().create_agent(request)


class TemplatedFramework(TinyFramework):
    name: ClassVar[str] = "tiny-templated"
    uses_templates: ClassVar[bool] = True
    factory_class: ClassVar[type[TinyFactory]] = TemplatedFactory


class TinyTemplates:
    @hookimpl
    def register_templates(self, register: Any) -> None:
        register(
            AgentTemplate(framework="tiny-templated", template_id="tiny", version="1", build=dict)
        )


async def test_requests_carry_the_template_as_the_manager_sends_it() -> None:
    for test in (
        "test_instance_keeps_context_across_turns",
        "test_session_manager_creates_then_reuses",
    ):
        await run(TemplatedFramework(), test, plugins=[TinyTemplates()])
    with pytest.raises(pytest.fail.Exception, match="none is registered as tiny@1"):
        await run(TemplatedFramework(), "test_instance_keeps_context_across_turns")
