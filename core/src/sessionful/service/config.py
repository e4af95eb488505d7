"""Service configuration: ``sessionful.toml``, overridable by ``SESSIONFUL_*`` variables.

Used by the CLI and the HTTP service (extras ``cli`` / ``server``). A wrong file fails with one
:class:`ConfigFileError` naming the file, the key and its line::

    sessionful.toml:7: lifecycle.idle_timeout: Input should be greater than 0

Environment variables override the file: ``SESSIONFUL_STRATEGY=per_session``,
``SESSIONFUL_LIFECYCLE__IDLE_TIMEOUT=600`` (``__`` separates nested keys; a duration is seconds
or a number with a unit, ``30m``, ``12h``, ``7d``, in the file and in variables alike),
``SESSIONFUL_AUTH__API_KEYS='{"key-1": "tenant-a"}'`` (JSON for tables).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from sessionful.errors import ConfigurationError
from sessionful.keys import _check
from sessionful.lifecycle import Duration, LifecyclePolicy
from sessionful.models import AgentDefinition
from sessionful.stores import DEFAULT_STORE_URL

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the extras pull tomli in on 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_AGENTS",
    "DEFAULT_CONFIG_FILE",
    "AgentConfig",
    "AuthConfig",
    "ClusterConfig",
    "ConfigFileError",
    "FeedbackConfig",
    "LimitsConfig",
    "ServerConfig",
    "Settings",
    "TracingConfig",
    "config_path",
    "describe_source",
    "is_loopback",
    "load_settings",
]

DEFAULT_CONFIG_FILE = Path("sessionful.toml")
"""Read from the working directory when no file is named."""
CONFIG_ENV = "SESSIONFUL_CONFIG"
"""Names the configuration file, when set."""


class ConfigFileError(ConfigurationError):
    """The configuration is wrong: ``.path``, ``.key`` (dotted) and ``.line`` say where."""

    def __init__(self, path: Path | None, key: str, line: int | None, reason: str) -> None:
        self.path = path
        self.key = key
        self.line = line
        where = "environment" if path is None else str(path)
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


class AgentConfig(AgentDefinition):
    """One agent the service runs (``[[agents]]``): an :class:`~sessionful.AgentDefinition`
    plus the framework that runs it."""

    name: str = ""
    """Shown to people; defaults to the id."""
    framework: str = "langgraph"
    """The framework that runs it; each framework gets its own manager."""

    def definition(self) -> AgentDefinition:
        """The plain definition a manager registers."""
        values = self.model_dump(exclude={"framework"})
        values["name"] = self.name or self.id
        return AgentDefinition(**values)


DEFAULT_AGENTS: tuple[AgentConfig, ...] = (
    AgentConfig(
        id="customer-service-bot",
        name="Customer service",
        framework="langgraph",
        template_id="tool-agent",
        template_version="1",
    ),
)
"""The agents of a configuration that names none (no ``[[agents]]`` in the file, no
``SESSIONFUL_AGENTS``): ``customer-service-bot`` on LangGraph's ``tool-agent`` template with
its offline model, so ``sessionful chat --agent customer-service-bot`` and ``serve`` work with
no file at all. An explicit ``agents = []`` means none."""


class AuthConfig(BaseModel):
    """Who may call the service (``[auth]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_keys: dict[str, str] = Field(default_factory=dict)
    """API key -> principal. A principal sees only its own sessions. Keep the file private, or
    pass keys in ``SESSIONFUL_AUTH__API_KEYS``."""

    @field_validator("api_keys")
    @classmethod
    def _valid_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key, principal in value.items():
            if len(key) < 16:
                raise ValueError("every API key must be at least 16 characters long")
            _check("principal", principal, optional=False)
        return value


class LimitsConfig(BaseModel):
    """What one request may ask (``[limits]``); the service answers 413, 429 or 504 past them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_message_chars: int = Field(default=32_000, ge=1)
    """Longest message content (413 beyond)."""
    max_messages_per_request: int = Field(default=32, ge=1)
    """Most messages in one turn (413 beyond)."""
    max_sessions_per_principal: int = Field(default=1_000, ge=1)
    """Most open sessions a principal may have (429 beyond)."""
    turn_timeout: Duration = Field(default=120.0, gt=0)
    """Seconds a turn may take before the service gives up on it (504)."""
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    """Largest request body (413 beyond)."""
    max_context_chars: int = Field(default=32_000, ge=1)
    """Largest per-turn ``context``, and largest ``resume`` answers, each as compact JSON
    characters (413 beyond)."""


class FeedbackConfig(BaseModel):
    """The rating scale of session feedback (``[feedback]``): ``POST .../feedback`` takes a
    number from ``min_rating`` to ``max_rating`` (inclusive), or ``"up"`` / ``"down"`` for its
    ends (422 otherwise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rating: float = Field(default=1.0, allow_inf_nan=False)
    """The lowest rating (what a thumbs-down records)."""
    max_rating: float = Field(default=5.0, allow_inf_nan=False)
    """The highest rating (what a thumbs-up records); more than ``min_rating``."""
    max_comment_chars: int = Field(default=4_000, ge=0)
    """Longest comment a rating may carry (422 beyond)."""

    @model_validator(mode="after")
    def _ordered(self) -> FeedbackConfig:
        if not self.min_rating < self.max_rating:
            raise ValueError("max_rating must be more than min_rating")
        return self

    @property
    def scale(self) -> tuple[float, float]:
        """``(min_rating, max_rating)``."""
        return self.min_rating, self.max_rating


class ServerConfig(BaseModel):
    """Where ``sessionful serve`` listens (``[server]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    """The address to listen on. Without ``[auth] api_keys`` only a loopback address
    (``127.0.0.1``, ``::1``, ``localhost``) is allowed: the service then runs in dev mode,
    without authentication."""
    port: int = Field(default=8000, ge=0, le=65535)
    graceful_timeout: Duration = Field(default=30.0, ge=0, allow_inf_nan=False)
    """Seconds a shutdown waits for turns in flight (finite); the turns still running then are
    cut and answered 503 ``shutting_down``."""
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    """The level of the service's log and uvicorn's (``warning`` quiets the per-session lines)."""
    access_log: bool = True
    """Log a line per request (uvicorn's access log)."""
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per log line (``time``, ``level``, ``logger``, ``message``; the
    request's fields on access lines; ``trace_id`` and ``span_id`` when tracing is on)."""


class TracingConfig(BaseModel):
    """OpenTelemetry tracing of turns (``[tracing]``; extra ``otel``): a span per turn, parented
    to the request's W3C ``traceparent`` (see :mod:`sessionful.otel`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    """Trace turns (needs ``pip install 'sessionful[otel]'``)."""
    exporter: Literal["otlp", "console", "global"] = "otlp"
    """Where spans go: ``otlp`` (OTLP over HTTP), ``console`` (standard output), ``global`` (the
    tracer provider the process set up itself, e.g. under ``opentelemetry-instrument``)."""
    endpoint: str | None = Field(default=None, min_length=1)
    """The OTLP traces URL (``http://collector:4318/v1/traces``). Left out: the
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables, else
    ``http://localhost:4318/v1/traces``."""
    service_name: str = Field(default="sessionful", min_length=1)
    """The ``service.name`` resource attribute of the spans (``otlp`` and ``console``)."""


class ClusterConfig(BaseModel):
    """Several instances sharing one PostgreSQL store (``[cluster]``).

    With a ``postgresql://`` store every instance registers in the table
    ``sessionful_nodes`` and heartbeats there; the live set is read back from it and each
    session has an owner among the live nodes (rendezvous hashing on the session id). A request
    for a session this instance does not own is served anyway and counted as an affinity miss.
    With any other store the cluster is this instance alone.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_id: str | None = Field(default=None, min_length=1, max_length=256)
    """This instance's name in the cluster; unique per instance and stable across restarts
    (ownership is hashed on it). Left out: ``advertise_address`` if set, else
    ``<hostname>:<server.port>``."""
    advertise_address: str | None = Field(default=None, min_length=1, max_length=256)
    """How a gateway reaches this instance (``10.0.0.5:8000``), as the owner header names it.
    Left out: ``<server.host>:<server.port>``."""
    heartbeat_interval: Duration = Field(default=2.0, gt=0)
    """Seconds between heartbeats (and re-reads of the live set)."""
    node_ttl: Duration = Field(default=6.0, gt=0)
    """Seconds without a heartbeat after which an instance is no longer live; more than
    ``heartbeat_interval``."""
    owner_header: bool = True
    """Add ``X-Sessionful-Owner`` (the owner's ``advertise_address``) and
    ``X-Sessionful-Node`` (this ``node_id``) to the responses about a session."""

    @model_validator(mode="after")
    def _ttl_over_interval(self) -> ClusterConfig:
        if self.node_ttl <= self.heartbeat_interval:
            raise ValueError("node_ttl must be more than heartbeat_interval")
        return self


class Settings(BaseSettings):
    """Everything the CLI and the service are configured by."""

    model_config = SettingsConfigDict(
        env_prefix="SESSIONFUL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    strategy: str = "persisted"
    """``shared``, ``per_session``, ``persisted`` or a plugin's strategy."""
    store: str = DEFAULT_STORE_URL
    """The session store URL for ``persisted``: ``sqlite:///...``, ``postgresql://...``,
    ``memory://``."""
    overlap: Literal["enqueue", "reject"] = "enqueue"
    """A turn on a busy session waits (``enqueue``) or is refused with 409 (``reject``)."""
    lifecycle: LifecyclePolicy = Field(default_factory=LifecyclePolicy)
    framework_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per framework name: its ``framework_settings``."""
    agents: list[AgentConfig] = Field(default_factory=lambda: list(DEFAULT_AGENTS))
    """The agents served. Left out: :data:`DEFAULT_AGENTS` (``customer-service-bot`` on LangGraph's
    ``tool-agent`` template, offline)."""
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)

    @field_validator("agents")
    @classmethod
    def _unique_agents(cls, value: list[AgentConfig]) -> list[AgentConfig]:
        seen: set[str] = set()
        for agent in value:
            if agent.id in seen:
                raise ValueError(f"agent id {agent.id!r} appears twice")
            seen.add(agent.id)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return (env_settings, init_settings)


def config_path(path: str | Path | None = None) -> Path | None:
    """The file :func:`load_settings` reads: ``path``, else ``$SESSIONFUL_CONFIG``, else
    ``./sessionful.toml`` if it exists, else ``None`` (defaults only)."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV)
    if chosen:
        return Path(chosen)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.exists() else None


def describe_source(path: Path | None) -> str:
    """Where settings come from, for a log line: the file (or built-in defaults) and the names
    of the ``SESSIONFUL_*`` variables that override it (never their values)."""
    where = f"file {path.resolve()}" if path is not None else "built-in defaults (no file)"
    variables = sorted(_variables().values())
    if variables:
        where += f", overridden by {', '.join(variables)}"
    return where


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``) or ``localhost``;
    other names and the wildcard addresses are not."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the configuration: ``path``, else ``$SESSIONFUL_CONFIG``, else
    ``./sessionful.toml`` if it exists, else defaults; then the environment on top.

    Raises :class:`ConfigFileError` (one message: file, line, key, reason).
    """
    file = config_path(path)
    data: dict[str, Any] = {}
    text = ""
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigFileError(file, "", None, f"cannot read it: {exc.strerror}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = getattr(exc, "lineno", None) or _line_of_decode_error(str(exc))
            raise ConfigFileError(file, "", line, f"not valid TOML: {exc}") from None
    try:
        return Settings(**data)
    except SettingsError as exc:  # a variable that does not parse (a table that is not JSON)
        raise _unparsable(exc) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc)
        variable = _variable_for(loc)
        from_file = variable is None and file is not None and _in(data, loc)
        line = _line_of(text, loc) if from_file else None
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        if variable is not None:
            key = f"{variable} ({key})"
        raise ConfigFileError(file if from_file else None, key, line, error["msg"] + more) from None


_ENV_PREFIX = "SESSIONFUL_"


def _variables() -> dict[tuple[str, ...], str]:
    """The ``SESSIONFUL_*`` variables that set a setting, by the path of keys they set."""
    found: dict[tuple[str, ...], str] = {}
    for name in os.environ:
        if not name.upper().startswith(_ENV_PREFIX) or name.upper() == CONFIG_ENV:
            continue
        path = tuple(name[len(_ENV_PREFIX) :].lower().split("__"))
        if path[0] in Settings.model_fields:
            found[path] = name
    return found


def _variable_for(loc: tuple[Any, ...]) -> str | None:
    """The environment variable that set the value at ``loc`` (or a table holding it), if any:
    an error there is the environment's, not the file's."""
    path = tuple(str(part).lower() for part in loc)
    for keys, name in _variables().items():
        if path[: len(keys)] == keys:
            return name
    return None


def _unparsable(exc: SettingsError) -> ConfigFileError:
    """A clear error for a variable pydantic-settings cannot parse (its JSON is malformed)."""
    field = re.search(r'field "([^"]+)"', str(exc))
    name = field.group(1) if field else ""
    bad = [
        variable
        for keys, variable in sorted(_variables().items())
        if keys[0] == name and not _is_json(os.environ[variable])
    ]
    which = ", ".join(bad) or f"{_ENV_PREFIX}{name.upper()}"
    return ConfigFileError(
        None,
        which,
        None,
        "not valid JSON (tables and lists are JSON in variables, e.g. "
        f'{_ENV_PREFIX}AUTH__API_KEYS=\'{{"key-0123456789abcdef": "tenant-a"}}\')',
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _in(data: Any, loc: tuple[Any, ...]) -> bool:
    for part in loc:
        in_table = isinstance(data, dict) and part in data
        in_array = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if in_table or in_array:
            data = data[part]
        else:
            return False
    return True


def _line_of_decode_error(message: str) -> int | None:
    found = re.search(r"line (\d+)", message)
    return int(found.group(1)) if found else None


_ARRAY_HEADER = re.compile(r"^\[\[\s*([^\]]+?)\s*\]\]$")
_TABLE_HEADER = re.compile(r"^\[\s*([^\]]+?)\s*\]$")


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The line of the key at ``loc`` in a TOML text: tables, arrays of tables and dotted or
    inline keys are followed well enough to point a person at the right line."""
    names = [str(part) for part in loc if not isinstance(part, int)]
    indexes = [part for part in loc if isinstance(part, int)]
    lines = text.splitlines()
    table: list[str] = []
    counts: dict[str, int] = {}
    best: int | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        header = _ARRAY_HEADER.match(line) or _TABLE_HEADER.match(line)
        if header:
            table = [part.strip().strip('"') for part in header.group(1).split(".")]
            if line.startswith("[["):
                name = ".".join(table)
                counts[name] = counts.get(name, -1) + 1
            if table == names[: len(table)] and _index_matches(table, counts, indexes):
                best = best or number
            continue
        key = re.match(r'^("?)([^"=]+?)\1\s*=', line)
        if key is None:
            continue
        full = [*table, *(part.strip().strip('"') for part in key.group(2).split("."))]
        if full == names[: len(full)] and _index_matches(table, counts, indexes):
            if full == names or len(full) == len(names) - 1 or best is None:
                best = number
            if full == names:
                return number
    return best


def _index_matches(table: list[str], counts: dict[str, int], indexes: list[int]) -> bool:
    name = ".".join(table)
    if name not in counts:
        return True
    return not indexes or counts[name] == indexes[0]
