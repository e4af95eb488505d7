"""The main demo: a LangGraph support bot, offline, on the embedded SQLite store.

Two customers talk to `customer-service-bot` in parallel sessions. Each session has its own
instance of one compiled graph and remembers its own customer; the offline model needs no
network. Then the process "restarts" (a new manager on the same SQLite file) and both
conversations carry on, restored from the store. Analytics at the end.

This is what `make demo` and `sessionful demo` run; the code is
`sessionful.cli.demo.run_demo` (it needs the `cli` extra for its rich tables).

Run: .venv/bin/python examples/langgraph_demo.py [--db PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sessionful.cli.demo import run_demo

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--db", type=Path, help="SQLite file (default: a fresh temporary one)")
    run_demo(parser.parse_args().db)
