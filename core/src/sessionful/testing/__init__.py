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

        @pytest.fixture
        def framework(self) -> StubFramework:
            return StubFramework()

        @pytest.fixture
        def agent_definition(self) -> AgentDefinition:
            return AgentDefinition(id="conformance", name="Conformance", template_id="echo")

        def recalls(self, reply: ChatMessage, earlier: Sequence[str]) -> bool:
            seen = re.match(r"echo #(\\d+):", reply.content)  # n counts user messages seen
            return seen is not None and int(seen.group(1)) > len(earlier)

Install it with ``pip install 'sessionful[testing]'`` (pytest and pytest-asyncio). The async
tests carry ``@pytest.mark.asyncio``, so they run whether or not your project sets
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

Capabilities decide what runs: the snapshot tests skip unless the framework's class says
``persistence = "snapshot"``, the native-store test unless ``persistence = "native"``, and the
"a recreated instance starts fresh" test skips when ``native_sessions`` is true or
``persistence = "native"``; each skip gives its reason. Every test's docstring says what to fix
when it fails. To opt out of a test that cannot apply to your adapter, override it in your class
with a body that calls ``pytest.skip("why")``.

The suite is grouped so that a slow framework can run a part: :class:`FactoryTests` (the
boundary alone), :class:`PersistenceTests`, :class:`ManagerTests` (a real ``SessionManager``),
:class:`PackageTests` (entry point, import without side effects); :class:`AdapterTests` is all
four. A test method can also be called directly with an :class:`AdapterUnderTest`, which is how
the suite's own tests prove that a broken adapter fails it::

    adapter = AdapterUnderTest.resolve(BrokenFramework(), {}, definition)
    with pytest.raises(AssertionError):
        await TestStubAdapter().test_distinct_keys_are_isolated(adapter)
"""

from __future__ import annotations

import importlib.util

_MISSING = [name for name in ("pytest", "pytest_asyncio") if importlib.util.find_spec(name) is None]
if _MISSING:
    raise ImportError(
        f"sessionful.testing needs {' and '.join(_MISSING)}: pip install 'sessionful[testing]'",
        name=_MISSING[0],
    )

import pytest  # noqa: E402

# Before the suite's modules are imported, so pytest shows the values in a failed assert.
pytest.register_assert_rewrite("sessionful.testing._harness", "sessionful.testing._suite")

from sessionful.testing._fixtures import AdapterFixtures  # noqa: E402
from sessionful.testing._harness import AdapterUnderTest, Harness  # noqa: E402
from sessionful.testing._suite import (  # noqa: E402
    AdapterTests,
    FactoryTests,
    ManagerTests,
    PackageTests,
    PersistenceTests,
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
]
