"""agent-sessions: one agent instance per conversation session, reused across turns.

The public API. Everything a user, a plugin author or an adapter needs is importable from here;
submodules starting with ``_`` are private.
"""

from agent_sessions.errors import (
    AgentCreationFailed,
    AgentSessionsError,
    CapacityExceeded,
    ConfigurationError,
    InvalidSessionKey,
    SessionBusy,
    SessionError,
    UnknownAgent,
    UnknownFramework,
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
from agent_sessions.strategies import PerSessionStrategy, SessionStrategy, SharedStrategy
from agent_sessions.templates import AgentTemplate

__version__ = "0.1.0"

__all__ = [
    "MAX_ID_LENGTH",
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
    "SessionKey",
    "SessionManager",
    "SessionStats",
    "SessionStrategy",
    "SharedStrategy",
    "SupportsSnapshot",
    "SupportsStream",
    "UnknownAgent",
    "UnknownFramework",
    "UnknownStrategy",
    "UnknownTemplate",
    "__version__",
    "hookimpl",
]
