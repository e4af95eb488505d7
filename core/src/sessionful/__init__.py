"""sessionful: one agent instance per conversation session, reused across turns.

The public API. Everything a user, a plugin author or an adapter needs is importable from here;
submodules starting with ``_`` are private.
"""

from importlib import metadata as _metadata

from sessionful.content import (
    ContentBlock,
    FileBlock,
    ImageBlock,
    NonStandardBlock,
    ReasoningBlock,
    TextBlock,
    ToolCall,
    Usage,
)
from sessionful.errors import (
    AgentCreationFailed,
    CapacityExceeded,
    ConfigurationError,
    CorruptSessionData,
    InterruptPending,
    InvalidResume,
    InvalidSessionKey,
    LeaseLost,
    SchemaTooNew,
    SessionBusy,
    SessionError,
    SessionfulError,
    SessionNotFound,
    StoreError,
    StoreUnavailable,
    UnknownAgent,
    UnknownFramework,
    UnknownStore,
    UnknownStrategy,
    UnknownTemplate,
)
from sessionful.factory import (
    AgentFactory,
    AgentInstance,
    Framework,
    Persistence,
    SupportsHistory,
    SupportsNativeState,
    SupportsSnapshot,
    SupportsStream,
)
from sessionful.hookspecs import hookimpl
from sessionful.keys import MAX_ID_LENGTH, SessionKey
from sessionful.lifecycle import CleanupReport, LifecyclePolicy
from sessionful.manager import EndReport, OverlapPolicy, SessionManager
from sessionful.models import (
    AgentCreateRequest,
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    InstanceEvent,
    Interrupt,
    ManagerStats,
    Role,
    SessionStats,
    StreamEvent,
    TurnOutput,
    TurnRequest,
    TurnStatus,
    UnloadReason,
)
from sessionful.stores import SessionStore
from sessionful.strategies import (
    PerSessionStrategy,
    PersistedStrategy,
    SessionStrategy,
    SharedStrategy,
)
from sessionful.templates import AgentTemplate

# The one source of the version is core/pyproject.toml's `version`: the installed distribution's
# metadata carries it (wheel, sdist or the workspace's editable install alike), and
# `sessionful --version` prints this name. Bump it there, nowhere else.
try:
    __version__: str = _metadata.version("sessionful")
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree on sys.path, uninstalled
    __version__ = "0+unknown"

__all__ = [
    "AgentCreateRequest",
    "AgentCreationFailed",
    "AgentDefinition",
    "AgentFactory",
    "AgentInstance",
    "AgentTemplate",
    "CapacityExceeded",
    "ChatMessage",
    "CleanupReport",
    "ConfigurationError",
    "ContentBlock",
    "CorruptSessionData",
    "EndReport",
    "ExecuteAgentCommand",
    "ExecutionResult",
    "FileBlock",
    "Framework",
    "hookimpl",
    "ImageBlock",
    "InstanceEvent",
    "Interrupt",
    "InterruptPending",
    "InvalidResume",
    "InvalidSessionKey",
    "LeaseLost",
    "LifecyclePolicy",
    "ManagerStats",
    "MAX_ID_LENGTH",
    "NonStandardBlock",
    "OverlapPolicy",
    "PerSessionStrategy",
    "PersistedStrategy",
    "Persistence",
    "ReasoningBlock",
    "Role",
    "SchemaTooNew",
    "SessionBusy",
    "SessionError",
    "SessionfulError",
    "SessionKey",
    "SessionNotFound",
    "SessionManager",
    "SessionStats",
    "SessionStore",
    "SessionStrategy",
    "SharedStrategy",
    "StoreError",
    "StoreUnavailable",
    "StreamEvent",
    "SupportsHistory",
    "SupportsNativeState",
    "SupportsSnapshot",
    "SupportsStream",
    "TextBlock",
    "ToolCall",
    "TurnOutput",
    "TurnRequest",
    "TurnStatus",
    "UnknownAgent",
    "UnknownFramework",
    "UnknownStore",
    "UnknownStrategy",
    "UnknownTemplate",
    "UnloadReason",
    "Usage",
    "__version__",
]
