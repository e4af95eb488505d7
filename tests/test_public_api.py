"""The public API is pinned: what ``sessionful`` exports, documented, with its error tree."""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import version
from importlib.resources import files

import pytest

import sessionful

EXPORTED = sorted(
    [
        "MAX_ID_LENGTH",
        "AgentCreateRequest",
        "AgentCreationFailed",
        "AgentDefinition",
        "AgentFactory",
        "AgentInstance",
        "SessionfulError",
        "AgentTemplate",
        "CapacityExceeded",
        "ChatMessage",
        "CleanupReport",
        "ConfigurationError",
        "EndReport",
        "ExecuteAgentCommand",
        "ExecutionResult",
        "Framework",
        "InstanceEvent",
        "InvalidSessionKey",
        "LifecyclePolicy",
        "ManagerStats",
        "OverlapPolicy",
        "PerSessionStrategy",
        "Persistence",
        "Role",
        "SessionBusy",
        "SessionError",
        "SessionNotFound",
        "SessionKey",
        "SessionManager",
        "SessionStats",
        "SessionStrategy",
        "SharedStrategy",
        "SupportsHistory",
        "SupportsNativeState",
        "SupportsSnapshot",
        "SupportsStream",
        "UnknownAgent",
        "UnknownFramework",
        "UnknownStrategy",
        "UnknownTemplate",
        "CorruptSessionData",
        "LeaseLost",
        "SchemaTooNew",
        "StoreError",
        "StoreUnavailable",
        "UnknownStore",
        "PersistedStrategy",
        "SessionStore",
        "__version__",
        "hookimpl",
        # The turn contract (issue 12): one request in, one result out, and what it carries.
        "TurnRequest",
        "TurnOutput",
        "TurnStatus",
        "UnloadReason",
        "StreamEvent",
        "Interrupt",
        "InterruptPending",
        "InvalidResume",
        "ContentBlock",
        "TextBlock",
        "ImageBlock",
        "FileBlock",
        "ReasoningBlock",
        "NonStandardBlock",
        "ToolCall",
        "Usage",
    ]
)

# The contract users write against (issue 2's example); these may never disappear.
CONTRACT = [
    "AgentDefinition",
    "ChatMessage",
    "ExecuteAgentCommand",
    "LifecyclePolicy",
    "SessionKey",
    "SessionManager",
    "SessionfulError",
    "InvalidSessionKey",
    "UnknownAgent",
    "UnknownFramework",
    "SessionBusy",
]


def _public_objects() -> list[tuple[str, object]]:
    return [
        (name, getattr(sessionful, name))
        for name in sessionful.__all__
        if inspect.isclass(getattr(sessionful, name))
        or inspect.isfunction(getattr(sessionful, name))
    ]


def test_all_is_pinned() -> None:
    assert sorted(sessionful.__all__) == EXPORTED
    assert len(set(sessionful.__all__)) == len(sessionful.__all__)


def test_the_original_design_contract_is_exported() -> None:
    assert set(CONTRACT) <= set(sessionful.__all__)


def test_every_name_imports() -> None:
    namespace: dict[str, object] = {}
    exec("from sessionful import *", namespace)
    for name in EXPORTED:
        assert name in namespace, name
        assert namespace[name] is getattr(sessionful, name)


@pytest.mark.parametrize(("name", "obj"), _public_objects(), ids=lambda v: str(v)[:40])
def test_public_classes_and_functions_have_their_own_docstring(name: str, obj: object) -> None:
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
    assert isinstance(doc, str) and doc.strip(), f"{name} has no docstring of its own"


@pytest.mark.parametrize(
    "cls",
    [obj for _, obj in _public_objects() if inspect.isclass(obj)],
    ids=lambda c: c.__name__,
)
def test_public_methods_have_docstrings(cls: type) -> None:
    missing = [
        attr
        for attr, member in vars(cls).items()
        if not attr.startswith("_")
        and (inspect.isfunction(member) or isinstance(member, (classmethod, property)))
        and not (inspect.getdoc(getattr(cls, attr, None)) or _doc(member))
    ]
    assert missing == [], f"{cls.__name__}: undocumented {missing}"


def _doc(member: object) -> str | None:
    inner = getattr(member, "__func__", None) or getattr(member, "fget", None) or member
    return inner.__doc__


def test_hookimpl_is_the_projects_marker() -> None:
    assert sessionful.hookimpl.project_name == "sessionful"


def test_version_matches_the_distribution() -> None:
    assert sessionful.__version__ == version("sessionful")


@pytest.mark.parametrize("package", ["sessionful", "sessionful_stub"])
def test_distributions_ship_py_typed(package: str) -> None:
    assert files(package).joinpath("py.typed").is_file()


@pytest.mark.parametrize(
    "module",
    [
        "errors",
        "factory",
        "hookspecs",
        "keys",
        "lifecycle",
        "manager",
        "models",
        "strategies",
        "_plugins",
        "_registry",
    ],
)
def test_submodule_all_names_exist(module: str) -> None:
    mod = importlib.import_module(f"sessionful.{module}")
    for name in mod.__all__:
        assert hasattr(mod, name), f"sessionful.{module}.__all__ lists missing {name}"


# -- the error tree -----------------------------------------------------------------------------

E = sessionful


@pytest.mark.parametrize(
    ("error", "parents"),
    [
        (E.ConfigurationError, (E.SessionfulError, ValueError)),
        (E.InvalidSessionKey, (E.ConfigurationError,)),
        (E.UnknownFramework, (E.ConfigurationError, LookupError)),
        (E.UnknownStrategy, (E.ConfigurationError, LookupError)),
        (E.UnknownAgent, (E.ConfigurationError, LookupError)),
        (E.SessionError, (E.SessionfulError, RuntimeError)),
        (E.SessionBusy, (E.SessionError,)),
        (E.CapacityExceeded, (E.SessionError,)),
        (E.AgentCreationFailed, (E.SessionError,)),
        (E.InterruptPending, (E.SessionError,)),
        (E.SessionNotFound, (E.SessionError, LookupError)),
        (E.InvalidResume, (E.SessionError, ValueError)),
    ],
    ids=lambda v: getattr(v, "__name__", "parents"),
)
def test_error_tree(error: type[BaseException], parents: tuple[type, ...]) -> None:
    for parent in parents:
        assert issubclass(error, parent)


def test_every_exported_error_is_rooted() -> None:
    errors = [
        obj
        for _, obj in _public_objects()
        if inspect.isclass(obj) and issubclass(obj, BaseException)
    ]
    assert len(errors) >= 10
    assert all(issubclass(e, E.SessionfulError) for e in errors)


def test_errors_carry_context() -> None:
    key = E.SessionKey("bot", "s")
    busy = E.SessionBusy(key)
    assert busy.key is key and str(key) in str(busy)
    full = E.CapacityExceeded(key, 3)
    assert (full.key, full.max_active) == (key, 3)
    cause = OSError("down")
    failed = E.AgentCreationFailed(key, cause)
    assert failed.key is key and "down" in str(failed)
    unknown = E.UnknownFramework("x", ["b", "a"])
    assert (unknown.name, unknown.available) == ("x", ["a", "b"])
    assert str(unknown) == "unknown framework 'x'; registered: 'a', 'b'"
    agent = E.UnknownAgent("nobody", ["a"])
    assert agent.agent_id == "nobody"
    assert str(agent).startswith("unknown agent 'nobody'")
