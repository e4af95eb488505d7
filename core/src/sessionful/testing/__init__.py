"""The adapter conformance suite: the tests every framework adapter must pass.

An adapter's test file subclasses :class:`AdapterTests` and supplies two fixtures; the suite's
tests then run against that adapter. This is the whole test file of the stub adapter::

    import re
    from collections.abc import Sequence

    import pytest

    from sessionful import AgentDefinition, ChatMessage
    from sessionful.testing import AdapterTests
    from sessionful_stub import StubFramework


    class TestStubAdapter(AdapterTests):
        releases_instances = False  # StubFactory.instances keeps every instance, on purpose
        interrupt_messages = ("ask: refund $20?",)  # the stub asks; it replies "answered: yes"
        context_probe = ("context?",)  # the stub replies "context: <the context as JSON>"

        @pytest.fixture
        def framework(self) -> StubFramework:
            return StubFramework()

        @pytest.fixture
        def agent_definition(self) -> AgentDefinition:
            return AgentDefinition(id="conformance", name="Conformance", template_id="echo")

        def recalls(self, reply: ChatMessage, earlier: Sequence[str]) -> bool:
            seen = re.match(r"echo #(\\d+):", reply.text)  # n counts user messages seen
            return seen is not None and int(seen.group(1)) > len(earlier)

        def echoed(self, sent: ChatMessage, reply: ChatMessage) -> bool:
            blocks = [] if isinstance(sent.content, str) else sent.content
            others = sum(1 for block in blocks if block.type != "text")
            return reply.text.endswith(sent.text + (f" (+{others} blocks)" if others else ""))

Install it with ``pip install 'sessionful[testing]'`` (pytest, pytest-asyncio and Hypothesis).
The async tests carry ``@pytest.mark.asyncio``, so they run whether or not your project sets
``asyncio_mode = "auto"``.

What the test class supplies
----------------------------

``framework`` (fixture, required)
    Your :class:`~sessionful.Framework` object, or its registered name (then it is looked up
    through the ``sessionful`` entry points, as ``SessionManager`` does).
``agent_definition`` (fixture, required)
    An :class:`~sessionful.AgentDefinition` your framework builds and runs offline: no
    network, no API keys (use your framework's fake or scripted model).
``framework_settings`` (fixture, default ``{}``)
    What ``SessionManager(framework_settings=...)`` would pass; a fixture, so it may use
    ``tmp_path`` for a database file.
``plugins`` (fixture, default none)
    Extra plugin objects, as ``SessionManager(plugins=...)`` takes them: e.g. one whose
    ``register_templates`` hook registers a test template. For a framework that
    ``uses_templates``, the suite looks the agent's template up and puts it in every
    ``AgentCreateRequest``, exactly as the manager does.
``recalls(reply, earlier) -> bool`` (method)
    Whether a reply shows that the agent had seen every text in ``earlier``. The suite asks it
    where memory is required and where it is forbidden. The default looks for each text in the
    reply, which suits a model that echoes its context.
``releases_instances`` (class attribute, default ``True``)
    Whether a destroyed instance must be garbage as soon as ``destroy_agent`` returns; set
    ``False`` if the factory keeps its instances on purpose (it must still not outlive it).
``adapter_module`` (class attribute)
    The module the import test imports; default: the framework class's module.
``concurrency`` (class attribute, default 8)
    How many instances the concurrency tests run at once.

The turn contract (see docs/concepts.md) has its own probes, each with a default:

``interrupt_messages`` (class attribute, default ``()``)
    User messages that make the agent interrupt. Required when the framework declares
    ``interrupts = True``; the suite answers each interrupt with ``resume_answer`` (default
    ``"yes"``) and asks ``answered(reply, answer)`` (default: the answer's text is in the reply).
``context_probe`` (class attribute, default ``None``: the context tests skip)
    User messages whose reply shows the turn's context; ``shows_context(reply, context)``
    (default: every value, as text or JSON, is in the reply) judges it.
``reports_usage`` (class attribute, default ``True``)
    Set ``False`` if the framework never reports token usage; the usage tests then skip.
``echoed(sent, reply) -> bool | None`` (method, default ``None``)
    How the reply echoes a message with content blocks; ``None``: the agent does not echo, and
    the content test only checks that every generated message is accepted.
``framework_state_exists(factory, key) -> bool | None`` (async method, default ``None``)
    Whether the framework holds state for ``key`` outside the instance (checkpoints, a
    session's items); with it the suite checks that ``destroy_agent`` keeps that state on every
    reason but ``"ended"`` and deletes it on ``"ended"``. ``None`` skips the test.
``content_examples`` (class attribute, default 25)
    How many messages Hypothesis generates for the content round trips.

Capabilities decide what runs: the snapshot tests skip unless the framework's class says
``persistence = "snapshot"``, the native-store test unless ``persistence = "native"``, the
"a recreated instance starts fresh" test when ``persistence = "native"``, the interrupt tests
unless ``interrupts = True`` and the persisted interrupt test when ``persistence`` is ``None``;
each skip gives its reason. Every test's docstring says what to fix
when it fails. To opt out of a test that cannot apply to your adapter, override it in your class
with a body that calls ``pytest.skip("why")``.

The suite is grouped so that a slow framework can run a part: :class:`FactoryTests` (the
boundary alone), :class:`TurnTests` (interrupts, context, content blocks, usage),
:class:`PersistenceTests` (snapshots, a native store, end vs evict), :class:`ManagerTests` (a
real ``SessionManager``), :class:`PackageTests` (entry point, import without side effects);
:class:`AdapterTests` is all five. A test method can also be called directly with an
:class:`AdapterUnderTest`, which is how the suite's own tests prove that a broken adapter
fails it::

    adapter = AdapterUnderTest.resolve(BrokenFramework(), {}, definition)
    with pytest.raises(AssertionError):
        await TestStubAdapter().test_distinct_keys_are_isolated(adapter)
"""

from __future__ import annotations

import importlib.util

_MISSING = [
    name
    for name in ("pytest", "pytest_asyncio", "hypothesis")
    if importlib.util.find_spec(name) is None
]
if _MISSING:
    raise ImportError(
        f"sessionful.testing needs {', '.join(_MISSING)}: pip install 'sessionful[testing]'",
        name=_MISSING[0],
    )

import pytest  # noqa: E402

# Before the suite's modules are imported, so pytest shows the values in a failed assert.
pytest.register_assert_rewrite(
    "sessionful.testing._content",
    "sessionful.testing._factory_tests",
    "sessionful.testing._harness",
    "sessionful.testing._helpers",
    "sessionful.testing._manager_tests",
    "sessionful.testing._package_tests",
    "sessionful.testing._persistence_tests",
    "sessionful.testing._suite",
    "sessionful.testing._turn_tests",
)

from sessionful.testing._fixtures import AdapterFixtures  # noqa: E402
from sessionful.testing._harness import AdapterUnderTest, Harness  # noqa: E402
from sessionful.testing._suite import (  # noqa: E402
    AdapterTests,
    FactoryTests,
    ManagerTests,
    PackageTests,
    PersistenceTests,
    TurnTests,
)

__all__ = [
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
