"""Helpers the conformance tests share: test texts, failure messages, the interrupt cycle and
snapshot round trips."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from sessionful.factory import SupportsSnapshot
from sessionful.models import ChatMessage, Interrupt
from sessionful.testing._fixtures import AdapterFixtures
from sessionful.testing._harness import AdapterUnderTest, _awaitable

_WORDS = (
    "apricot", "basalt", "cobalt", "dahlia", "ember", "fjord", "garnet", "harbor",
    "indigo", "juniper", "kestrel", "lichen", "marble", "nutmeg", "obsidian", "pepper",
)  # fmt: skip


def _texts(tag: str, count: int) -> list[str]:
    """``count`` distinct user messages; ``tag`` keeps each test's texts apart from another's."""
    return [
        f"Please remember the code word {tag}-{_WORDS[i % len(_WORDS)]}-{i}." for i in range(count)
    ]


def _last(reply: Sequence[ChatMessage]) -> ChatMessage:
    return reply[-1]


def _show(message: ChatMessage, limit: int = 160) -> str:
    """A message's content for a failure message, its middle elided when long."""
    text = message.text
    if len(text) > limit:
        text = f"{text[: limit // 2]} ... {text[-limit // 2 :]}"
    return repr(text)


def _interrupting(suite: AdapterFixtures, adapter: AdapterUnderTest) -> list[str]:
    """The messages that make the agent interrupt; skips when the framework cannot."""
    if not getattr(type(adapter.framework), "interrupts", False):
        pytest.skip(f"{adapter.name} declares interrupts=False: its turns never stop for an answer")
    if not suite.interrupt_messages:
        pytest.fail(
            f"{adapter.name} declares interrupts=True, so the suite checks the interrupt "
            f"cycle: set `interrupt_messages` on {type(suite).__name__} to the user messages "
            "that make your offline agent interrupt",
            pytrace=False,
        )
    return list(suite.interrupt_messages)


def _answers(suite: AdapterFixtures, interrupts: Sequence[Interrupt]) -> dict[str, Any]:
    return {interrupt.id: suite.resume_answer for interrupt in interrupts}


def _check_resumed(
    suite: AdapterFixtures,
    messages: Sequence[ChatMessage],
    interrupts: Sequence[Interrupt],
    asked: Sequence[Interrupt],
) -> None:
    """A resumed turn completed, without re-asking, with a reply that shows the answer."""
    again = {i.id for i in interrupts} & {i.id for i in asked}
    assert not again, (
        f"the turn that answered {sorted(again)} stopped with the same interrupts again: the "
        "adapter ignored request.resume and ran the agent into the same question (for "
        "LangGraph, invoke Command(resume=...) rather than the messages)"
    )
    assert not interrupts, (
        f"the resumed turn stopped with new interrupts {list(interrupts)!r}; choose "
        "interrupt_messages whose questions one round of answers settles"
    )
    assert messages and messages[-1].role == "assistant", (
        f"the resumed turn produced {list(messages)!r}; it must complete with the assistant's reply"
    )
    assert suite.answered(messages[-1], suite.resume_answer), (
        f"the resumed turn's reply {_show(messages[-1])} does not show the answer "
        f"{suite.resume_answer!r}: pass request.resume to the agent (by interrupt id), or "
        "override answered() if your agent shows answers differently"
    )


async def _snapshot(instance: SupportsSnapshot) -> dict[str, Any]:
    return await _awaitable(instance.snapshot(), "snapshot")


async def _restore(
    instance: SupportsSnapshot, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
) -> None:
    await _awaitable(instance.restore(snapshot, messages), "restore")


def _json_round_trip(snapshot: Any, when: str) -> str:
    """The snapshot as canonical JSON text, asserting it is JSON and survives the trip."""
    assert isinstance(snapshot, dict), (
        f"snapshot() {when} returned {type(snapshot).__name__}; it must return a dict"
    )
    try:
        text = json.dumps(snapshot, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"snapshot() {when} is not JSON-serialisable: {exc}") from exc
    assert json.loads(text) == snapshot, (
        f"snapshot() {when} changes under a JSON round trip (tuples, non-string keys?): "
        f"{snapshot!r}"
    )
    return text
