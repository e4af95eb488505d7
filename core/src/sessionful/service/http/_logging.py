"""The server's logging: uvicorn's configuration with sessionful's loggers on the same handlers,
as text (uvicorn's format) or as one JSON object per line (``[server] log_format = "json"``)."""

from __future__ import annotations

import copy
import json
import logging
from datetime import datetime, timezone
from typing import Any

import uvicorn.config

__all__ = ["JsonFormatter", "log_config"]

_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")
"""The arguments of uvicorn's access log line, in order."""


def _trace_ids() -> dict[str, str]:
    """The current OpenTelemetry trace and span ids, when tracing is installed and on."""
    try:
        from opentelemetry import trace
    except ImportError:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``;
    on uvicorn's access lines also ``client``, ``method``, ``path``, ``http_version``,
    ``status``; ``trace_id`` and ``span_id`` inside a traced request; ``exception`` with the
    traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            entry.update(zip(_ACCESS_FIELDS, args, strict=True))
        entry.update(_trace_ids())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_config(level: str, log_format: str) -> dict[str, Any]:
    """uvicorn's logging configuration, with the ``sessionful`` loggers at ``level`` on its
    default handler, and both formatters JSON when ``log_format`` is ``"json"``."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["sessionful"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    if log_format == "json":
        json_formatter = {"()": f"{__name__}.JsonFormatter"}
        config["formatters"] = {"default": json_formatter, "access": dict(json_formatter)}
    return config
