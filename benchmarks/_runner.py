"""The runner: section registry, command line, progress on stderr, and the page's assembly."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

__all__ = ["GROUPS", "Context", "Progress", "Section", "main", "section"]

GROUPS: dict[str, str] = {
    "core": "benchmarks.core",
    "langgraph": "benchmarks.langgraph",
    "openai-agents": "benchmarks.openai_agents",
    "persistence": "benchmarks.persistence",
    "service": "benchmarks.service",
    "cluster": "benchmarks.cluster",
    "affinity": "benchmarks.affinity",
}
"""Group name -> the module whose import registers its sections, in page order."""

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

_BLOCK = re.compile(
    r"<!-- bench:(?P<id>[\w.-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=id) -->\n?", re.S
)


@dataclass(frozen=True)
class Section:
    """One independent benchmark: ``run(ctx)`` measures and returns the section's markdown body
    (starting with its ``## title``)."""

    id: str
    """``<group>.<name>``, e.g. ``core.overhead``; what the command line selects."""
    title: str
    run: Callable[[Context], str]

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]


_SECTIONS: list[Section] = []


def section(id: str, title: str) -> Callable[[Callable[[Context], str]], Callable[[Context], str]]:
    """Register the decorated function as the section ``id`` (``<group>.<name>``)."""

    def register(run: Callable[[Context], str]) -> Callable[[Context], str]:
        if any(s.id == id for s in _SECTIONS):
            raise ValueError(f"benchmark section {id!r} is registered twice")
        _SECTIONS.append(Section(id, title, run))
        return run

    return register


class Progress:
    """A progress line on stderr: rewritten in place on a terminal, a few lines otherwise."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0
        self._quarter = 0

    def update(self, done: int) -> None:
        if self.tty:
            now = time.monotonic()
            if now - self._last >= 0.2 or done >= self.total:
                self._last = now
                self.stream.write(f"\r  {self.label}: {done:,}/{self.total:,}\x1b[K")
                self.stream.flush()
        else:
            quarter = done * 4 // max(self.total, 1)
            if quarter > self._quarter:
                self._quarter = quarter
                print(f"  {self.label}: {done:,}/{self.total:,}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class Context:
    """What a section gets: the size knob and a way to report progress."""

    quick: bool = False
    """A smoke run: small sizes, figures not meant for the page."""
    stream: TextIO = field(default_factory=lambda: sys.stderr)

    def progress(self, label: str, total: int) -> Progress:
        return Progress(label, total, self.stream)

    def note(self, text: str) -> None:
        print(f"  {text}", file=self.stream, flush=True)


def machine() -> dict[str, str]:
    """Where and when this run measured."""
    return {
        "Date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Platform": platform.platform(),
        "CPU cores (`os.cpu_count()`)": str(os.cpu_count()),
    }


def _stamp(info: dict[str, str], seconds: float, quick: bool) -> str:
    return (
        f"_Measured {info['Date']} · {info['Python']} · {info['Platform']} · "
        f"{info['CPU cores (`os.cpu_count()`)']} cores · this section took {seconds:.1f} s"
        f"{' · a --quick smoke run: small sizes, not figures to quote' if quick else ''}._"
    )


def _header(info: dict[str, str], ran: Sequence[str]) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in info.items())
    return (
        "# Benchmarks\n\n"
        "Written by `make bench` (`python -m benchmarks`; `python -m benchmarks --list` names the\n"
        "sections, `python -m benchmarks core` runs a group). Every figure below was measured by\n"
        "the run that wrote its section, and each section is stamped with that run; none is typed\n"
        "in. The figures are from one machine: compare the numbers within a section, which come\n"
        "from one run, rather than across machines. Nothing here is a timed test: `make test`\n"
        "never fails on speed.\n\n"
        "The latest run:\n\n"
        "| | |\n|---|---|\n"
        f"{rows}\n"
        f"| Sections it ran | {', '.join(f'`{s}`' for s in ran)} |\n"
    )


def _existing_blocks(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return {m["id"]: m["body"] for m in _BLOCK.finditer(path.read_text(encoding="utf-8"))}


def _select(names: Sequence[str]) -> list[Section]:
    groups = [n.split(".", 1)[0] for n in names] if names else list(GROUPS)
    for group in groups:
        if group not in GROUPS:
            raise SystemExit(f"unknown benchmark group {group!r}; known: {', '.join(GROUPS)}")
        try:
            importlib.import_module(GROUPS[group])
        except ImportError as exc:
            if names:  # asked for by name: say why it cannot run
                raise
            # A full run skips a group whose optional dependency is missing; the page keeps
            # that group's sections from the run that last measured them.
            print(f"skipping benchmark group {group!r}: {exc}", file=sys.stderr)
    if not names:
        return list(_SECTIONS)
    chosen = [s for s in _SECTIONS if s.id in names or s.group in names]
    unknown = set(names) - {s.id for s in chosen} - {s.group for s in chosen}
    if unknown:
        known = ", ".join(s.id for s in _SECTIONS)
        raise SystemExit(f"unknown benchmark section(s) {sorted(unknown)}; known: {known}")
    return chosen


def _order(ids: Sequence[str]) -> list[str]:
    """Page order: registered groups in GROUPS order, then anything unknown, as found."""
    rank = {group: i for i, group in enumerate(GROUPS)}
    registered = [s.id for s in _SECTIONS]

    def key(item: tuple[int, str]) -> tuple[int, int, int]:
        position, id_ = item
        group = rank.get(id_.split(".", 1)[0], len(rank))
        within = registered.index(id_) if id_ in registered else len(registered) + position
        return group, within, position

    return [id_ for _, id_ in sorted(enumerate(ids), key=key)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure sessionful and write docs/benchmarks.md.",
    )
    parser.add_argument(
        "names", nargs="*", help="groups (e.g. 'core') or sections (e.g. 'core.overhead')"
    )
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes for a smoke run; prints the page instead of writing it "
        "(unless --output is given)",
    )
    parser.add_argument("--output", type=Path, help=f"the page to write (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)

    if args.list:
        for group in GROUPS:
            try:
                importlib.import_module(GROUPS[group])
            except ImportError as exc:
                print(f"{group + '.*':24} unavailable: {exc}")
        for s in _SECTIONS:
            print(f"{s.id:24} {s.title}")
        return 0

    chosen = _select(args.names)
    ctx = Context(quick=args.quick)
    info = machine()
    bodies: dict[str, str] = {}
    started = time.perf_counter()
    for i, s in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {s.id}: {s.title}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        body = s.run(ctx).strip() + "\n"
        seconds = time.perf_counter() - t0
        bodies[s.id] = f"{body}\n{_stamp(info, seconds, ctx.quick)}\n"
        print(f"      done in {seconds:.1f} s", file=sys.stderr, flush=True)

    output: Path | None = args.output
    if output is None and not args.quick:
        output = DEFAULT_OUTPUT
    blocks = _existing_blocks(output) if output is not None else {}
    blocks.update(bodies)
    page = _header(info, list(bodies)) + "".join(
        f"\n<!-- bench:{id_} -->\n{blocks[id_]}<!-- /bench:{id_} -->\n"
        for id_ in _order(list(blocks))
    )
    if output is None:
        sys.stdout.write(page)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(page, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    print(f"total {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
