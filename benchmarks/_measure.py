"""Small measuring helpers: percentiles, formatting, tables, a fake clock, a cache flush, and
interleaved timing."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

from benchmarks._runner import Progress

__all__ = [
    "CacheFlush",
    "FakeClock",
    "Interleaved",
    "interleave",
    "median",
    "ms",
    "percentile",
    "table",
    "times",
    "us",
    "verdict",
]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` percent at or below it."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered) / 100)
    return float(ordered[min(max(rank, 1), len(ordered)) - 1])


def median(values: Sequence[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        raise ValueError("no values")
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def us(ns: float) -> str:
    """Nanoseconds as microseconds, for a table cell."""
    return f"{ns / 1000:,.2f} µs"


def ms(ns: float) -> str:
    """Nanoseconds as milliseconds, for a table cell."""
    return f"{ns / 1e6:,.2f} ms"


def times(ratio: float, digits: int = 1) -> str:
    """A ratio, for a table cell: 12.3 and a multiplication sign."""
    return f"{ratio:,.{digits}f}\N{MULTIPLICATION SIGN}"


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A markdown table. ``align`` has one of ``l``, ``r``, ``c`` per column; by default the first
    column is left-aligned and the others right-aligned."""
    rule = {"l": "---", "r": "---:", "c": ":---:"}
    align = align or "l" + "r" * (len(header) - 1)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(rule[a] for a in align) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


class FakeClock:
    """A clock the benchmark moves by hand; the manager reads it for every timestamp."""

    __slots__ = ("now",)

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _largest_cache() -> int:
    """The largest CPU cache in bytes, as Linux reports it; 0 when unknown."""
    largest = 0
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = path.read_text().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        try:
            largest = max(largest, int(text.rstrip("KMG")) * scale)
        except ValueError:
            continue
    return largest


class CacheFlush:
    """Evicts the CPU caches by reading a buffer three times the largest cache (at least
    96 MiB), so the next timing starts cold, as a periodic job's data would be.

    Reading, not writing: a written buffer would leave the caches full of dirty lines, and
    writing them back would slow the first milliseconds of the timing that follows.
    """

    def __init__(self) -> None:
        self.size = max(96 << 20, 3 * _largest_cache())
        # Real content, so the pages are real (an all-zero buffer may map one shared page).
        self._buffer = bytes(range(256)) * (self.size // 256)

    def __call__(self) -> None:
        self._buffer.count(0xFF)  # reads every byte


class Interleaved:
    """Per-call nanoseconds of two operations measured in alternating batches."""

    def __init__(self) -> None:
        self.a: list[int] = []
        self.b: list[int] = []
        self.batch_diffs: list[float] = []
        """Per batch: median of ``a`` minus median of ``b`` in that batch."""


async def _timed(op: Callable[[], Awaitable[object]], n: int, out: list[int]) -> list[int]:
    clock = time.perf_counter_ns
    mine: list[int] = []
    for _ in range(n):
        t0 = clock()
        await op()
        mine.append(clock() - t0)
    out.extend(mine)
    return mine


async def interleave(
    a: Callable[[], Awaitable[object]],
    b: Callable[[], Awaitable[object]],
    *,
    batches: int,
    per_batch: int,
    progress: Progress,
    between: Callable[[], None] | None = None,
) -> Interleaved:
    """Time ``await a()`` and ``await b()`` call by call, in alternating batches (a b, b a, ...)
    so that drift and noise of the machine land on both alike. ``between`` runs after each batch
    pair, outside the timings."""
    result = Interleaved()
    for i in range(batches):
        if i % 2 == 0:
            ta = await _timed(a, per_batch, result.a)
            tb = await _timed(b, per_batch, result.b)
        else:
            tb = await _timed(b, per_batch, result.b)
            ta = await _timed(a, per_batch, result.a)
        result.batch_diffs.append(median(ta) - median(tb))
        if between is not None:
            between()
        progress.update(i + 1)
    progress.close()
    return result
