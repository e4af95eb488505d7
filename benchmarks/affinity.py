"""Rendezvous hashing vs ``hash % n`` (issue 6, item 1): how evenly sessions spread, and how
many move when a node joins or leaves. Counts, not timings: the figures are exact for the keys
used and the same on every machine."""

from __future__ import annotations

import statistics

from benchmarks._runner import Context, section
from sessionful import SessionKey
from sessionful.service.affinity import owner_of, score

KEYS = 10_000


def _nodes(n: int) -> list[str]:
    return [f"node-{i}" for i in range(n)]


def _modulo(key: SessionKey, n: int) -> int:
    # The original design's sketch, with a stable hash so the figure does not change between runs.
    return score("", key) % n


@section("affinity.remap", "Affinity: rendezvous hashing vs hash % n")
def remap(ctx: Context) -> str:
    keys = [SessionKey("customer-service-bot", f"session-{i}") for i in range(KEYS)]
    rows = []
    sizes = (2, 3, 4, 8, 16) if not ctx.quick else (2, 3)
    progress = ctx.progress("node counts", len(sizes))
    for done, n in enumerate(sizes, start=1):
        before = {key: owner_of(key, _nodes(n)) for key in keys}
        grown = {key: owner_of(key, [*_nodes(n), f"node-{n}"]) for key in keys}
        shrunk = {key: owner_of(key, _nodes(n)[1:]) for key in keys}
        counts = [list(before.values()).count(node) for node in _nodes(n)]
        spread = max(abs(c - statistics.mean(counts)) for c in counts) / statistics.mean(counts)
        moved_up = sum(before[k] != grown[k] for k in keys) / KEYS
        moved_down = sum(before[k] != shrunk[k] for k in keys) / KEYS
        mod_up = sum(_modulo(k, n) != _modulo(k, n + 1) for k in keys) / KEYS
        mod_down = sum(_modulo(k, n) != _modulo(k, n - 1) for k in keys) / KEYS if n > 1 else 0
        rows.append(
            f"| {n} | {spread:.1%} | {moved_up:.1%} | {1 / (n + 1):.1%} | {mod_up:.1%} "
            f"| {moved_down:.1%} | {1 / n:.1%} | {mod_down:.1%} |"
        )
        progress.update(done)
    progress.close()
    return "\n".join(
        [
            "## Affinity: rendezvous hashing vs hash % n",
            "",
            f"{KEYS:,} session keys over n nodes. **Spread**: the largest node's distance from the"
            " mean load (target: within 10%). **Node added / removed**: the share of all"
            " sessions whose owner changes, for `sessionful.service.affinity.owner_of` (rendezvous)"
            " and for the original design's `hash(session_id) % n`; the ideal is the share the new"
            " node takes over, 1/(n+1), or the share the leaving node held, 1/n.",
            "",
            "| n | spread (rendezvous) | node added: rendezvous | ideal | `hash % n` "
            "| node removed: rendezvous | ideal | `hash % n` |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Rendezvous moves only the sessions that the change of membership has to move; "
            "`hash % n` moves most of them, so most warm instances go cold on every deploy.",
        ]
    )
