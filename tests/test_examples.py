"""Every example runs, exits 0 and prints what the docs say it prints.

The third-party adapter example is also put through the conformance suite with its own test file,
without installing it: its module is loaded from examples/third_party_adapter/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sessionful import AgentDefinition, ChatMessage, ExecuteAgentCommand, SessionManager
from sessionful.testing import AdapterUnderTest
from support import load_file
from support.examples import run_example, run_fresh

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ADAPTER_DIR = EXAMPLES / "third_party_adapter"


def assert_lines(output: str, *expected: str) -> None:
    """Each expected text appears in the output, on lines in this order."""
    lines = output.splitlines()
    at = 0
    for text in expected:
        for i in range(at, len(lines)):
            if text in lines[i]:
                at = i  # the next text may be on the same line
                break
        else:
            pytest.fail(f"{text!r} not found (in order) in:\n{output}")


def test_every_example_has_a_test() -> None:
    """A new example must be added here, so none goes untested."""
    tested = {
        "demo.py",
        "quickstart.py",
        "metrics_hooks.py",
        "lifecycle.py",
        "use_parrot.py",
        "human_in_the_loop.py",
        "third_party_adapter/sessionful_parrot.py",
        "third_party_adapter/tests/test_parrot.py",
        "langgraph_support.py",
        "langgraph_demo.py",
        "gateway_client.py",  # run against a real server in tests/test_server.py
        "three_instances.sh",  # run (--smoke) in tests/test_cluster.py
    }
    found = {
        str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*") if p.suffix in {".py", ".sh"}
    }
    assert found == tested


def test_demo() -> None:
    out = run_example("demo.py")
    assert_lines(
        out,
        # created, then reused: the counter goes on
        "session-abc-123   created  user: Hello",
        "echo #1: Hello",
        "session-abc-123   reused   user: What's my order status?",
        "echo #2: What's my order status?",
        "session key: customer-service-bot#session-abc-123",
        # isolation: another session starts at #1, the first goes on at #3
        "session-def-456   created  user: Hello",
        "echo #1: Hello",
        "session-abc-123   reused   user: Thanks!",
        "echo #3: Thanks!",
        # shared: one instance, the second session continues the first's count
        "strategy='shared'",
        "session-def-456   reused   user: Hello",
        "echo #3: Hello",
        # idle expiry with the fake clock
        "session_evicted customer-service-bot#session-abc-123 (reason: idle)",
        "expired_idle=['customer-service-bot#session-abc-123'], skipped_busy=0",
        "session-abc-123   created  user: I'm back",
        "echo #1: I'm back",
        # persisted: the expired session is restored and goes on
        "strategy='persisted'",
        "cleanup_inactive(): expired_idle=1",
        "session-abc-123   restored user: I'm back",
        "echo #3: I'm back",
        # LRU eviction at max_active=3
        "session_evicted customer-service-bot#session-def-456 (reason: capacity)",
        "session-jkl-012   created  user: Hi there",
        # end_session
        "session_ended   customer-service-bot#session-ghi-789 (was loaded: True)",
        "'session-ghi-789') -> unloaded=True",
        "'session-never-seen') -> unloaded=False",
        # analytics
        "customer-service-bot#session-jkl-012       4     8",
        "created=5, reused=6, restored=0, evicted=1, expired=1, ended=1, failed=0, active=2",
        "created=5, reused=6, restored=0, evicted=3, expired=1, ended=1, failed=0, active=0",
        "demo finished",
    )
    assert "FakeClock" in out  # the output says time is faked


def test_demo_is_deterministic() -> None:
    assert run_fresh("demo.py") == run_example("demo.py")


def test_quickstart() -> None:
    out = run_example("quickstart.py")
    assert out.splitlines() == [
        "created customer-service-bot#session-abc-123 echo #1: Hello",
        "reused customer-service-bot#session-abc-123 echo #2: What's my order status?",
        "2 4",
    ]


def test_metrics_hooks() -> None:
    out = run_fresh("metrics_hooks.py")  # its response times vary from run to run
    assert_lines(
        out,
        "created: 2",
        "ended: 1",
        "evicted:shutdown: 1",
        "replies: 5",
        "reused: 3",
        "turns: 5",
        "response time: mean",
    )


def test_lifecycle() -> None:
    out = run_example("lifecycle.py")
    assert_lines(
        out,
        "t=100s  swept: ['quiet']  live: chatty",
        "t=300s  expired_lifetime=['bot#chatty']",
        "chatty's next turn: created",
        "mid-turn sweep: expired=0, skipped_busy=1",
        "the turn finishes: reused, 'echo #2: still here'",
        "next sweep: expired=0",
        "turn on c: created  live (LRU first): a, c",
        "stats: evicted=1, active=2",
        "CapacityExceeded: cannot start session bot#newcomer",
    )


def test_langgraph_support() -> None:
    out = run_example("langgraph_support.py")
    assert_lines(
        out,
        "[session-ada · created] user: Hello, my name is Ada",
        "[session-bob · created] user: Hi, my name is Bob",
        "[session-ada · reused] user: What is my name?",
        "Your name is Ada.",
        "[session-bob · reused] user: What is my name?",
        "Your name is Bob.",
        "[session-ada · interrupted] asks: Refund $20.00 on order A-1001?",
        "tool: refund of $20.00 on order A-1001 approved and issued",
    )


def test_langgraph_demo_restores_both_customers_after_a_restart() -> None:
    out = run_example("langgraph_demo.py")
    assert_lines(
        out,
        "[session-ada  created] user: Hello, my name is Ada",
        "[session-bob  created] user: Hi, my name is Bob",
        "agent calls order_status({'order_id': 'latest'})",
        "interrupted: asks 'Refund $20.00 on order A-1001?'",
        "chunks: Your  | name  | is  | Ada.",
        "graphs compiled: 1 for 2 sessions",
        "[session-bob restored] user: What is my name?",
        "[session-ada restored] user: What is my name?",
        "end_session(session-bob) deleted {'sessions': 1, 'messages': 6, 'snapshots': 0, "
        "'items': 0, 'checkpoints': 3}",
    )
    assert out.count("Your name is Bob.") == 2 and out.count("Your name is Ada.") == 1


def test_use_parrot() -> None:
    out = run_example("use_parrot.py")
    assert out.splitlines() == [
        "polly#s1: created  Rawk! I heard: hello",
        "polly#s2: created  Rawk! I heard: bonjour",
        "polly#s1: reused   Rawk! I heard: hello, crackers?",
        "polly: created  Squawk! I heard: hi",
    ]


def test_human_in_the_loop() -> None:
    out = run_example("human_in_the_loop.py")
    assert out.splitlines() == [
        "status: interrupted; the agent asks 'refund $20?' (interrupt ask-1)",
        "pending: ['ask-1']",
        "refused: session bot#s1 waits for answers to interrupts 'ask-1'",
        "status: completed; reply: answered: yes",
        'reply: context: {"locale":"fr-CA","user_id":"u-42"}',
        "this turn: 1 in / 2 out; session: 4 in / 4 out over 3 turns",
    ]


# -- the third-party adapter, uninstalled -------------------------------------------------------


parrot = load_file("sessionful_parrot", ADAPTER_DIR / "sessionful_parrot.py")
parrot_tests = load_file("_parrot_conformance", ADAPTER_DIR / "tests" / "test_parrot.py")


def test_pyproject_registers_the_entry_point() -> None:
    """The six-line pyproject.toml names the module that registers the framework."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    text = (ADAPTER_DIR / "pyproject.toml").read_text(encoding="utf-8")
    assert len(text.splitlines()) == 6
    project = tomllib.loads(text)["project"]
    assert project["entry-points"]["sessionful"] == {"parrot": "sessionful_parrot"}
    assert "sessionful" in project["dependencies"]
    # Flat layout: the adapter is the directory's only top-level module.
    assert [p.name for p in ADAPTER_DIR.glob("*.py")] == ["sessionful_parrot.py"]


async def test_parrot_registers_through_its_hook() -> None:
    """Handing the module to a manager runs its register_frameworks, as the entry point would."""
    async with SessionManager(
        framework="parrot",
        plugins=[parrot],
        agents=[AgentDefinition(id="polly", name="Polly", template_id="parrot")],
    ) as manager:
        result = await manager.execute(
            ExecuteAgentCommand(agent_id="polly", session_id="s", messages=[ChatMessage.user("a")])
        )
    assert result.messages[-1].content == "Squawk! I heard: a"


class TestParrotConformance(parrot_tests.TestParrotAdapter):  # type: ignore[misc,name-defined]
    """The example adapter's own ten-line test file, run here against the uninstalled module."""

    @pytest.fixture(autouse=True)
    def _importable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The import test imports the adapter in a fresh interpreter.
        paths = [str(ADAPTER_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))

    def test_framework_registered_through_entry_point(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        pytest.skip(
            "the example adapter is not installed in the workspace; "
            "test_pyproject_registers_the_entry_point checks its entry point instead"
        )
