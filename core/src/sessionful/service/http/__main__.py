"""``python -m sessionful.service.http [CONFIG] [--log-level L] [--no-access-log]
[--log-format F]``: run the service.

The same as ``sessionful serve`` without the command line's extras; the tests and the
benchmarks start servers this way, so they need nothing but this package.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sessionful.errors import ConfigurationError
from sessionful.service.config import ConfigFileError, config_path, describe_source, load_settings
from sessionful.service.http import serve

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sessionful.service.http")
    parser.add_argument("config", nargs="?", help="sessionful.toml (default: the usual search)")
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, help="the log's level (default: server.log_level)"
    )
    parser.add_argument(
        "--no-access-log", action="store_true", help="do not log each request (server.access_log)"
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), help="text or JSON lines (server.log_format)"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        overrides: dict[str, Any] = {}
        if args.log_format is not None:
            overrides["log_format"] = args.log_format
        if args.no_access_log:
            overrides["access_log"] = False
        if overrides:
            server = settings.server.model_copy(update=overrides)
            settings = settings.model_copy(update={"server": server})
        source = describe_source(config_path(args.config))
        serve(settings, log_level=args.log_level, source=source)
    except (ConfigFileError, ConfigurationError) as exc:
        sys.stderr.write(f"sessionful: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
