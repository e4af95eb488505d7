"""``python -m sessionful.service.http [CONFIG] [--no-access-log]``: run the service.

The same as ``sessionful serve`` without the command line's extras; the tests and the
benchmarks start servers this way, so they need nothing but this package.
"""

from __future__ import annotations

import argparse
import sys

from sessionful.errors import ConfigurationError
from sessionful.service.config import ConfigFileError, load_settings
from sessionful.service.http import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sessionful.service.http")
    parser.add_argument("config", nargs="?", help="sessionful.toml (default: the usual search)")
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        serve(settings, access_log=not args.no_access_log, log_level=args.log_level)
    except (ConfigFileError, ConfigurationError) as exc:
        sys.stderr.write(f"sessionful: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
