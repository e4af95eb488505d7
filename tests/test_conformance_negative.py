"""The conformance suite catches broken adapters.

A tiny, correct adapter passes the suite's tests when they are called directly; each variant
below breaks one rule, and the suite test that guards that rule must fail on it. Without these,
a suite whose checks were vacuous would pass every adapter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Mapping, Sequence
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
    Interrupt,
    Persistence,
    SessionKey,
    StreamEvent,
    TurnOutput,
    TurnRequest,
    UnloadReason,
    Usage,
    hookimpl,
)
from sessionful.testing import AdapterTests, AdapterUnderTest

AGENT = AgentDefinition(id="conformance", name="Conformance", template_id="tiny")


class TinyAgent:
    """Replies ``seen: <every user text so far>``, so the suite's default ``recalls`` fits; asks
    on ``ask:``, answers a resume of a question it asked, shows its context on ``context?``."""

    def __init__(
        self, key: SessionKey, history: list[ChatMessage], pending: dict[str, str] | None = None
    ) -> None:
        self.key = key
        self.history = history
        self.pending: dict[str, str] = {} if pending is None else pending

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        self.history.extend(request.messages)
        users = [m for m in request.messages if m.role == "user"]
        usage = Usage(input_tokens=len(request.messages), output_tokens=1)
        if request.resume:
            known = {k: v for k, v in request.resume.items() if self.pending.pop(k, None)}
            text = "; ".join(str(v) for v in known.values()) or "nothing was asked"
            reply = ChatMessage.assistant(f"answered: {text}")
        elif users and users[-1].text.startswith("ask:"):
            question = Interrupt(id=f"q-{len(self.history)}", value=users[-1].text[4:].strip())
            self.pending[question.id] = str(question.value)
            return TurnOutput(interrupts=[question], usage=usage)
        elif users and users[-1].text == "context?":
            reply = ChatMessage.assistant(f"context: {json.dumps(request.context)}")
        else:
            reply = ChatMessage.assistant(f"seen: {' | '.join(self._heard())}")
        self.history.append(reply)
        return TurnOutput(messages=[reply], usage=usage)

    def _heard(self) -> list[str]:
        return [m.text for m in self.history if m.role == "user"]

    async def snapshot(self) -> dict[str, Any]:
        history = [m.model_dump(mode="json") for m in self.history]
        return {"version": 1, "history": history, "pending": dict(self.pending)}

    async def restore(
        self, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
    ) -> None:
        saved = [] if snapshot is None else snapshot["history"]
        self.history = [*(ChatMessage.model_validate(m) for m in saved), *messages]
        self.pending = {} if snapshot is None else dict(snapshot.get("pending", {}))


class TinyFactory(AgentFactory):
    agent_class: type[TinyAgent] = TinyAgent

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        return self.agent_class(request.key, [])

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        return None


class TinyFramework(Framework):
    name: ClassVar[str] = "tiny"
    persistence: ClassVar[Persistence | None] = "snapshot"
    interrupts: ClassVar[bool] = True
    factory_class: ClassVar[type[TinyFactory]] = TinyFactory

    def create_agent_factory(self, settings: Mapping[str, Any]) -> AgentFactory:
        return self.factory_class()


class NativeTinyFactory(TinyFactory):
    """Keeps each session's history in the framework's own store (a dict on the framework),
    deleting it when the session ends."""

    def __init__(self, store: dict[str, tuple[list[ChatMessage], dict[str, str]]]) -> None:
        self.store = store

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        history, pending = self.store.setdefault(str(request.key), ([], {}))
        return self.agent_class(request.key, history, pending)

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        if reason == "ended":
            self.store.pop(str(instance.key), None)


class NativeTinyFramework(Framework):
    name: ClassVar[str] = "tiny-native"
    persistence: ClassVar[Persistence | None] = "native"
    interrupts: ClassVar[bool] = True
    factory_class: ClassVar[type[NativeTinyFactory]] = NativeTinyFactory

    def __init__(self) -> None:
        self.store: dict[str, tuple[list[ChatMessage], dict[str, str]]] = {}

    def create_agent_factory(self, settings: Mapping[str, Any]) -> AgentFactory:
        return self.factory_class(self.store)


def broken(factory_class: type[TinyFactory]) -> TinyFramework:
    """A tiny framework whose factory is ``factory_class``."""
    framework: type[TinyFramework] = type(
        "BrokenFramework", (TinyFramework,), {"factory_class": factory_class}
    )
    return framework()


def broken_native(**methods: Any) -> NativeTinyFramework:
    """A native tiny framework whose factory overrides ``methods``."""
    factory = type("BrokenNativeFactory", (NativeTinyFactory,), methods)
    framework: type[NativeTinyFramework] = type(
        "BrokenNative", (NativeTinyFramework,), {"factory_class": factory}
    )
    return framework()


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


async def _whole_history(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    output = await TinyAgent.ainvoke(self, request)
    return output.model_copy(update={"messages": list(self.history)})


async def _forgetful(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    return TurnOutput(messages=[ChatMessage.assistant(f"seen: {request.messages[-1].text}")])


async def _user_last(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    output = await TinyAgent.ainvoke(self, request)
    return TurnOutput(messages=[*output.messages, ChatMessage.user("and you?")])


async def _raw_dicts(self: TinyAgent, request: TurnRequest) -> Any:
    return [m.model_dump() for m in (await TinyAgent.ainvoke(self, request)).messages]


async def _raw_list(self: TinyAgent, request: TurnRequest) -> Any:
    return (await TinyAgent.ainvoke(self, request)).messages  # the old boundary's list


async def _last_message_only(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    last = request._replace(messages=request.messages[-1:])
    return await TinyAgent.ainvoke(self, last)


async def _swallows_interrupts(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    output = await TinyAgent.ainvoke(self, request)
    if output.interrupts:  # the partial reply of a paused graph, as if the turn had completed
        return TurnOutput(messages=[ChatMessage.assistant("Let me check...")])
    return output


async def _ignores_resume(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    return await TinyAgent.ainvoke(self, request._replace(resume={}))


async def _reasks(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    if request.resume and self.pending:  # runs the graph again, into the same question
        return TurnOutput(interrupts=[Interrupt(id=k, value=v) for k, v in self.pending.items()])
    return await TinyAgent.ainvoke(self, request)


async def _drops_context(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    return await TinyAgent.ainvoke(self, request._replace(context={}))


class StickyContextAgent(TinyAgent):
    """Merges every turn's context into one it keeps (and snapshots)."""

    def __init__(self, key: SessionKey, history: list[ChatMessage]) -> None:
        super().__init__(key, history)
        self.context: dict[str, Any] = {}

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        self.context.update(request.context)
        return await super().ainvoke(request._replace(context=self.context))

    async def snapshot(self) -> dict[str, Any]:
        return {**await super().snapshot(), "context": dict(self.context)}


async def _no_usage(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    output = await TinyAgent.ainvoke(self, request)
    return output.model_copy(update={"usage": None})


async def _text_only(self: TinyAgent, request: TurnRequest) -> TurnOutput:
    flat = [
        m.model_copy(update={"content": m.content if isinstance(m.content, str) else ""})
        for m in request.messages
    ]
    return await TinyAgent.ainvoke(self, request._replace(messages=flat))


async def _stream_without_output(
    self: TinyAgent, request: TurnRequest
) -> AsyncIterator[ChatMessage | StreamEvent | TurnOutput]:
    for message in (await TinyAgent.ainvoke(self, request)).messages:
        yield message  # and never the TurnOutput, so a paused turn's interrupts are lost


async def _tuple_snapshot(self: TinyAgent) -> dict[str, Any]:
    return {"version": 1, "history": tuple(m.model_dump(mode="json") for m in self.history)}


def _sync_snapshot(self: TinyAgent) -> dict[str, Any]:
    return {"version": 1, "history": [m.model_dump(mode="json") for m in self.history]}


async def _forgets_pending(self: TinyAgent) -> dict[str, Any]:
    return {"version": 1, "history": [m.model_dump(mode="json") for m in self.history]}


class LiveStateAgent(TinyAgent):
    """Keeps its state as a JSON dict and hands that very dict out as its snapshot."""

    def __init__(self, key: SessionKey, history: list[ChatMessage]) -> None:
        super().__init__(key, history)
        self.state: dict[str, Any] = {"version": 1, "history": []}

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        output = await super().ainvoke(request)
        self.state["history"] = [m.model_dump(mode="json") for m in self.history]
        return output

    async def snapshot(self) -> dict[str, Any]:
        return self.state


async def _ignoring_restore(
    self: TinyAgent, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
) -> None:
    return None


async def _no_replay_restore(
    self: TinyAgent, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
) -> None:
    saved = [] if snapshot is None else snapshot["history"]
    self.history = [ChatMessage.model_validate(m) for m in saved]  # drops the logged turns


async def _deletes_on_evict(
    self: NativeTinyFactory, instance: AgentInstance, reason: UnloadReason
) -> None:
    self.store.pop(str(instance.key), None)  # the leak inverted: deletes on every reason


async def _never_deletes(
    self: NativeTinyFactory, instance: AgentInstance, reason: UnloadReason
) -> None:
    return None  # an ended session leaks in the framework's store


async def _ends_everything(
    self: NativeTinyFactory, instance: AgentInstance, reason: UnloadReason
) -> None:
    if reason == "ended":
        self.store.clear()


BROKEN: list[tuple[str, Framework, str]] = [
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
    (
        "returns a list (the old boundary)",
        broken_agent(ainvoke=_raw_list),
        "test_ainvoke_returns_only_new_messages",
    ),
    (
        "snapshot is not async",
        broken_agent(snapshot=_sync_snapshot),
        "test_snapshot_round_trips_through_json",
    ),
    # The turn contract: interrupts, context, content, usage, end vs evict.
    (
        "swallows interrupts",
        broken_agent(ainvoke=_swallows_interrupts),
        "test_interrupt_then_resume_completes",
    ),
    (
        "swallows interrupts",
        broken_agent(ainvoke=_swallows_interrupts),
        "test_session_manager_interrupt_cycle",
    ),
    (
        "ignores resume",
        broken_agent(ainvoke=_ignores_resume),
        "test_interrupt_then_resume_completes",
    ),
    (
        "ignores resume",
        broken_agent(ainvoke=_ignores_resume),
        "test_session_manager_interrupt_cycle",
    ),
    (
        "ignores resume",
        broken_agent(ainvoke=_ignores_resume),
        "test_interrupt_survives_eviction_and_restart",
    ),
    (
        "asks the same question again on resume",
        broken_agent(ainvoke=_reasks),
        "test_interrupt_then_resume_completes",
    ),
    (
        "a stream loses the interrupts",
        broken_agent(astream=_stream_without_output),
        "test_session_manager_interrupt_cycle",
    ),
    (
        "snapshot forgets the pending interrupt",
        broken_agent(snapshot=_forgets_pending),
        "test_pending_interrupt_survives_snapshot_and_restore",
    ),
    (
        "snapshot forgets the pending interrupt",
        broken_agent(snapshot=_forgets_pending),
        "test_interrupt_survives_eviction_and_restart",
    ),
    (
        "drops the context",
        broken_agent(ainvoke=_drops_context),
        "test_context_reaches_its_turn_only",
    ),
    (
        "drops the context",
        broken_agent(ainvoke=_drops_context),
        "test_session_manager_delivers_context_and_usage",
    ),
    (
        "keeps the context past its turn",
        broken(type("StickyFactory", (TinyFactory,), {"agent_class": StickyContextAgent})),
        "test_context_reaches_its_turn_only",
    ),
    (
        "snapshots the context",
        broken(type("StickyFactory", (TinyFactory,), {"agent_class": StickyContextAgent})),
        "test_context_is_not_kept_in_the_snapshot",
    ),
    ("reports no usage", broken_agent(ainvoke=_no_usage), "test_turn_reports_usage"),
    (
        "reports no usage",
        broken_agent(ainvoke=_no_usage),
        "test_session_manager_delivers_context_and_usage",
    ),
    (
        "drops content blocks",
        broken_agent(ainvoke=_text_only),
        "test_content_blocks_round_trip",
    ),
    (
        "deletes framework state on evict",
        broken_native(destroy_agent=_deletes_on_evict),
        "test_destroy_keeps_state_unless_ended",
    ),
    (
        "deletes framework state on evict",
        broken_native(destroy_agent=_deletes_on_evict),
        "test_native_persistence_survives_recreate",
    ),
    (
        "keeps framework state after end",
        broken_native(destroy_agent=_never_deletes),
        "test_destroy_keeps_state_unless_ended",
    ),
    (
        "ending one session deletes every session",
        broken_native(destroy_agent=_ends_everything),
        "test_destroy_keeps_state_unless_ended",
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
    )
]


class TinySuite(AdapterTests):
    """The suite as a tiny adapter's test class would subclass it (not collected: no Test)."""

    interrupt_messages: ClassVar[Sequence[str]] = ("ask: refund $20?",)
    context_probe: ClassVar[Sequence[str] | None] = ("context?",)

    def echoed(self, sent: ChatMessage, reply: ChatMessage) -> bool:
        return sent.text in reply.text

    async def framework_state_exists(self, factory: AgentFactory, key: SessionKey) -> bool | None:
        store = getattr(factory, "store", None)
        return None if store is None else str(key) in store


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


SKIPPED_BY = {
    "tiny": {"test_native_persistence_survives_recreate", "test_destroy_keeps_state_unless_ended"},
    "tiny-native": {
        "test_recreated_instance_starts_fresh",
        "test_snapshot_round_trips_through_json",
        "test_restored_snapshot_continues_conversation",
        "test_restore_replays_logged_messages",
        "test_pending_interrupt_survives_snapshot_and_restore",
        "test_context_is_not_kept_in_the_snapshot",
    },
}


@pytest.mark.parametrize("test", DIRECT)
@pytest.mark.parametrize("make", [TinyFramework, NativeTinyFramework], ids=["snapshot", "native"])
async def test_a_correct_adapter_passes(make: type[Framework], test: str) -> None:
    framework = make()
    if test in SKIPPED_BY[framework.name]:
        with pytest.raises(pytest.skip.Exception):
            await run(framework, test)
    else:
        await run(framework, test)


@pytest.mark.parametrize(
    ("flaw", "framework", "test"), BROKEN, ids=[f"{flaw}-{test}" for flaw, _, test in BROKEN]
)
async def test_a_broken_adapter_fails(flaw: str, framework: Framework, test: str) -> None:
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
    with pytest.raises(pytest.skip.Exception, match="persistence=None"):
        await run(in_memory, "test_interrupt_survives_eviction_and_restart")
    with pytest.raises(pytest.skip.Exception, match="persistence='native'"):
        await run(TinyFramework(), "test_native_persistence_survives_recreate")
    with pytest.raises(pytest.skip.Exception, match="keeps sessions itself"):
        await run(NativeTinyFramework(), "test_recreated_instance_starts_fresh")
    no_questions = type("NoQuestions", (TinyFramework,), {"interrupts": False})()
    for test in (
        "test_interrupt_then_resume_completes",
        "test_session_manager_interrupt_cycle",
        "test_interrupt_survives_eviction_and_restart",
        "test_pending_interrupt_survives_snapshot_and_restore",
    ):
        with pytest.raises(pytest.skip.Exception, match="interrupts=False"):
            await run(no_questions, test)

    class Plain(TinySuite):
        context_probe = None
        reports_usage = False

    for test in (
        "test_context_reaches_its_turn_only",
        "test_turn_reports_usage",
        "test_session_manager_delivers_context_and_usage",
    ):
        with pytest.raises(pytest.skip.Exception):
            await run(TinyFramework(), test, Plain())
    with pytest.raises(pytest.skip.Exception, match="framework_state_exists returns None"):
        await run(TinyFramework(), "test_destroy_keeps_state_unless_ended")


async def test_interrupts_need_the_messages_that_cause_them() -> None:
    class Unprepared(TinySuite):
        interrupt_messages = ()

    with pytest.raises(pytest.fail.Exception, match="set `interrupt_messages`"):
        await run(TinyFramework(), "test_interrupt_then_resume_completes", Unprepared())


async def test_a_context_check_that_always_agrees_fails() -> None:
    class Credulous(TinySuite):
        def shows_context(self, reply: ChatMessage, context: Mapping[str, Any]) -> bool:
            return True

    with pytest.raises(AssertionError, match="context"):
        await run(TinyFramework(), "test_context_reaches_its_turn_only", Credulous())


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
        "TurnTests",
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
