"""Persistence: snapshot/restore, a native store, and what end vs evict keep."""

from __future__ import annotations

import json

import pytest

from sessionful.factory import SupportsSnapshot
from sessionful.models import ChatMessage, UnloadReason
from sessionful.testing._fixtures import AdapterFixtures
from sessionful.testing._harness import AdapterUnderTest
from sessionful.testing._helpers import (
    _answers,
    _check_resumed,
    _interrupting,
    _json_round_trip,
    _last,
    _restore,
    _show,
    _snapshot,
    _texts,
)


class PersistenceTests(AdapterFixtures):
    """State that outlives an instance: snapshots (``persistence="snapshot"``) or the
    framework's own store (``persistence="native"``). Each test skips unless declared."""

    @staticmethod
    def _require(adapter: AdapterUnderTest, persistence: str) -> None:
        declared = type(adapter.framework).persistence
        if declared != persistence:
            pytest.skip(
                f"{adapter.name} declares persistence={declared!r}; this test applies to "
                f"persistence={persistence!r}"
            )

    @pytest.mark.asyncio
    async def test_snapshot_round_trips_through_json(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``await snapshot()`` returns a dict that survives ``json.dumps``/``json.loads``
        unchanged, before the first turn and after some, and is a copy that later turns do not
        change.

        To fix: build the snapshot from plain ``dict``/``list``/``str``/``int``/``float``/
        ``bool``/``None`` with string keys (``ChatMessage.model_dump(mode="json")`` helps); no
        tuples, datetimes, NaN or framework objects; put a version number in it; return a new
        dict each time rather than the instance's live state.
        """
        self._require(adapter_under_test, "snapshot")
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-snapshot-json")
            assert isinstance(instance, SupportsSnapshot), (
                f"persistence='snapshot' but {type(instance).__name__} has no snapshot()/restore()"
            )
            _json_round_trip(await _snapshot(instance), "before any turn")
            t1, t2 = _texts("snapshot-json", 2)
            await h.turn(instance, t1)
            snapshot = await _snapshot(instance)
            frozen = _json_round_trip(snapshot, "after a turn")
            await h.turn(instance, t2)
            assert json.dumps(snapshot, sort_keys=True) == frozen, (
                "a snapshot changed when the instance ran another turn: snapshot() must return a "
                "copy, not the instance's live state"
            )

    @pytest.mark.asyncio
    async def test_restored_snapshot_continues_conversation(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """A snapshot, round-tripped through JSON and restored into a fresh instance from a new
        factory (as after a restart), continues the conversation from the moment it was taken:
        it remembers the turns before the snapshot and none after.

        To fix: make ``await restore(snapshot, [])`` rebuild everything the next turn needs
        from the dict alone (no references to the old instance or factory); accept lists where
        you produced tuples; raise ``ValueError`` on a snapshot you cannot read.
        """
        self._require(adapter_under_test, "snapshot")
        t1, t2, t3, t4 = _texts("snapshot-restore", 4)
        async with adapter_under_test.harness() as h:
            old = await h.create("conformance-snapshot")
            assert isinstance(old, SupportsSnapshot), (
                f"persistence='snapshot' but {type(old).__name__} has no snapshot()/restore()"
            )
            await h.turn(old, t1)
            await h.turn(old, t2)
            stored = json.loads(_json_round_trip(await _snapshot(old), "after two turns"))
            await h.turn(old, t3)
            await h.destroy(old)

            new = await h.create("conformance-snapshot", factory=adapter_under_test.new_factory())
            assert isinstance(new, SupportsSnapshot)
            await _restore(new, stored, [])
            reply = _last(await h.turn(new, t4))
            assert self.recalls(reply, [t1, t2]), (
                f"the restored instance's reply {_show(reply)} does not show the turns in the "
                "snapshot; restore() must load the conversation"
            )
            assert not self.recalls(reply, [t1, t2, t3]), (
                f"the restored instance's reply {_show(reply)} shows a turn taken after the "
                "snapshot: state leaked from the old instance rather than the snapshot"
            )

    @pytest.mark.asyncio
    async def test_restore_replays_logged_messages(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``restore(snapshot, messages)`` continues from the snapshot (or from nothing, given
        ``None``) and then the logged messages of the turns after it, as the ``persisted``
        strategy does after a crash, when the latest turns exist only in the message log.

        To fix: in ``restore``, after loading the snapshot, apply each message in order as if
        it had been part of the conversation (without invoking any model).
        """
        self._require(adapter_under_test, "snapshot")
        t1, t2, t3 = _texts("snapshot-replay", 3)
        async with adapter_under_test.harness() as h:
            old = await h.create("conformance-replay")
            assert isinstance(old, SupportsSnapshot)
            first = [ChatMessage.user(t1), *(await h.turn(old, t1))]
            after_first = json.loads(_json_round_trip(await _snapshot(old), "after one turn"))
            second = [ChatMessage.user(t2), *(await h.turn(old, t2))]
            await h.destroy(old)

            for snapshot, log in ((None, [*first, *second]), (after_first, second)):
                new = await h.create("conformance-replay", factory=adapter_under_test.new_factory())
                assert isinstance(new, SupportsSnapshot)
                await _restore(new, snapshot, log)
                reply = _last(await h.turn(new, t3))
                assert self.recalls(reply, [t1, t2]), (
                    f"after restore({'a snapshot' if snapshot else 'None'}, <{len(log)} logged "
                    f"messages>) the reply {_show(reply)} does not show both earlier turns; "
                    "restore() must replay the logged messages after the snapshot"
                )
                await h.destroy(new)

    @pytest.mark.asyncio
    async def test_native_persistence_survives_recreate(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """With ``persistence="native"``, a new instance for a key continues the conversation
        that an earlier, destroyed instance for the same key had (an evicted session comes back).

        To fix: keep the framework's state in its own store keyed by ``str(request.key)``, and
        in ``destroy_agent`` delete it only when ``reason == "ended"``: eviction unloads an
        instance, it does not end the session.
        """
        self._require(adapter_under_test, "native")
        t1, t2, t3 = _texts("native", 3)
        async with adapter_under_test.harness() as h:
            old = await h.create("conformance-native")
            await h.turn(old, t1)
            await h.turn(old, t2)
            await h.destroy(old)
            new = await h.create("conformance-native")
            reply = _last(await h.turn(new, t3))
            assert self.recalls(reply, [t1, t2]), (
                f"a new instance for the same key starts over ({_show(reply)}); a native store "
                "must bring the conversation back"
            )

    @pytest.mark.asyncio
    async def test_pending_interrupt_survives_snapshot_and_restore(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """A snapshot taken while the agent waits for an answer, restored into a fresh instance
        from a new factory, takes the ``resume`` and completes the turn: pending interrupts are
        part of the session's state. Skipped unless ``persistence="snapshot"`` and
        ``interrupts = True``.

        To fix: put whatever the paused run needs in the snapshot (LangGraph: the checkpoint,
        with its pending writes and tasks), and rebuild it in ``restore`` so that the next
        request's ``resume`` continues the paused run.
        """
        self._require(adapter_under_test, "snapshot")
        asking = _interrupting(self, adapter_under_test)
        (t1,) = _texts("interrupt-snapshot", 1)
        async with adapter_under_test.harness() as h:
            old = await h.create("conformance-interrupt-snapshot")
            assert isinstance(old, SupportsSnapshot)
            await h.turn(old, t1)
            stopped = await h.run(old, *asking)
            assert stopped.interrupts, (
                "precondition: the agent must interrupt (see test_interrupt_then_resume_completes)"
            )
            stored = json.loads(_json_round_trip(await _snapshot(old), "while interrupted"))
            await h.destroy(old)
            new = await h.create(
                "conformance-interrupt-snapshot", factory=adapter_under_test.new_factory()
            )
            assert isinstance(new, SupportsSnapshot)
            await _restore(new, stored, [])
            resumed = await h.run(new, resume=_answers(self, stopped.interrupts))
            _check_resumed(self, resumed.messages, resumed.interrupts, stopped.interrupts)

    @pytest.mark.asyncio
    async def test_context_is_not_kept_in_the_snapshot(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """A turn's context appears nowhere in the snapshot taken after it: context is
        request-scoped (the end user's id, a token) and is never stored. Skipped unless
        ``persistence="snapshot"``.

        To fix: pass ``request.context`` to the framework as run-time context, never as part
        of the state it checkpoints; LangGraph copies ``config["configurable"]`` into checkpoint
        metadata, so use ``context=`` (a runtime context) or drop it from what you snapshot.
        """
        self._require(adapter_under_test, "snapshot")
        marker = "conformance-secret-4f1d2b"
        (t1,) = _texts("context-snapshot", 1)
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-context-snapshot")
            assert isinstance(instance, SupportsSnapshot)
            await h.turn(instance, t1, context={"conformance_token": marker})
            text = _json_round_trip(await _snapshot(instance), "after a turn with context")
            assert marker not in text, (
                f"the snapshot holds the turn's context ({marker!r}); context is never stored"
            )

    @pytest.mark.asyncio
    async def test_destroy_keeps_state_unless_ended(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``destroy_agent(instance, reason)`` keeps what the framework holds for the session
        on every reason but ``"ended"`` (``idle``, ``lifetime``, ``capacity``, ``evicted``,
        ``shutdown``, ``lease-lost``: the session may come back) and deletes it on ``"ended"``,
        leaving other sessions' state alone. Skipped when the test class's
        ``framework_state_exists`` returns ``None`` (the framework keeps nothing of its own).

        To fix: in ``destroy_agent``, release the instance on every reason; delete the
        framework's state for ``str(instance.key)`` (checkpoints of its thread, a session's
        items) only when ``reason == "ended"``, and only that key's.
        """
        a = adapter_under_test
        key, other = a.key("conformance-end-vs-evict"), a.key("conformance-end-vs-evict-other")
        texts = _texts("end-vs-evict", 8)
        async with a.harness() as h:
            if await self.framework_state_exists(h.factory, key) is None:
                pytest.skip(
                    f"{type(self).__name__}.framework_state_exists returns None: the framework "
                    "keeps no state outside its instances"
                )
            bystander = await h.create(other)
            await h.turn(bystander, texts[0])
            reasons: tuple[UnloadReason, ...] = (
                "idle", "lifetime", "capacity", "evicted", "shutdown", "lease-lost",
            )  # fmt: skip
            for reason, text in zip(reasons, texts[1:], strict=False):
                instance = await h.create(key)
                await h.turn(instance, text)
                await h.destroy(instance, reason)
                assert await self.framework_state_exists(h.factory, key), (
                    f"destroy_agent(reason={reason!r}) deleted the session's framework state; "
                    "only 'ended' may delete it (the session may come back)"
                )
            instance = await h.create(key)
            await h.turn(instance, texts[-1])
            await h.destroy(instance, "ended")
            assert not await self.framework_state_exists(h.factory, key), (
                "destroy_agent(reason='ended') left the session's framework state behind: an "
                "ended session must not leak in the framework's store"
            )
            assert await self.framework_state_exists(h.factory, other), (
                "ending one session deleted another session's framework state"
            )
