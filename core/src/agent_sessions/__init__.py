"""agent-sessions: one agent instance per conversation session, reused across turns.

The public API. Everything a user, a plugin author or an adapter needs is importable from here;
submodules starting with ``_`` are private.
"""

from agent_sessions.errors import (
    AgentCreationFailed,
    AgentSessionsError,
    CapacityExceeded,
    ConfigurationError,
    CorruptSessionData,
    InvalidSessionKey,
    LeaseLost,
    SchemaTooNew,
    SessionBusy,
    SessionError,
    StoreError,
    StoreUnavailable,
    UnknownAgent,
    UnknownFramework,
    UnknownStore,
    UnknownStrategy,
    UnknownTemplate,
)
from agent_sessions.factory import (
    AgentFactory,
    AgentInstance,
    Framework,
    Persistence,
    SupportsSnapshot,
    SupportsStream,
)
from agent_sessions.hookspecs import hookimpl
from agent_sessions.keys import MAX_ID_LENGTH, SessionKey
from agent_sessions.lifecycle import CleanupReport, LifecyclePolicy
from agent_sessions.manager import EndReport, OverlapPolicy, SessionManager
from agent_sessions.models import (
    AgentCreateRequest,
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    InstanceEvent,
    ManagerStats,
    Role,
    SessionStats,
)
from agent_sessions.stores import SessionStore
from agent_sessions.strategies import (
    PerSessionStrategy,
    PersistedStrategy,
    SessionStrategy,
    SharedStrategy,
)
from agent_sessions.templates import AgentTemplate

__version__ = "0.1.0"

__all__ = [
    "AgentCreateRequest",
    "AgentCreationFailed",
    "AgentDefinition",
    "AgentFactory",
    "AgentInstance",
    "AgentSessionsError",
    "AgentTemplate",
    "CapacityExceeded",
    "ChatMessage",
    "CleanupReport",
    "ConfigurationError",
    "CorruptSessionData",
    "EndReport",
    "ExecuteAgentCommand",
    "ExecutionResult",
    "Framework",
    "InstanceEvent",
    "InvalidSessionKey",
    "LeaseLost",
    "LifecyclePolicy",
    "MAX_ID_LENGTH",
    "ManagerStats",
    "OverlapPolicy",
    "PerSessionStrategy",
    "PersistedStrategy",
    "Persistence",
    "Role",
    "SchemaTooNew",
    "SessionBusy",
    "SessionError",
    "SessionKey",
    "SessionManager",
    "SessionStats",
    "SessionStore",
    "SessionStrategy",
    "SharedStrategy",
    "StoreError",
    "StoreUnavailable",
    "SupportsSnapshot",
    "SupportsStream",
    "UnknownAgent",
    "UnknownFramework",
    "UnknownStore",
    "UnknownStrategy",
    "UnknownTemplate",
    "__version__",
    "hookimpl",
]
