"""Session affinity: which node should serve a session, by rendezvous hashing.

Rendezvous (highest-random-weight) hashing scores every ``(node, key)`` pair with a hash and
gives the key to the highest-scoring node. Every process that knows the same node set picks the
same owner, with no coordination; adding a node moves only the keys that node now wins (about
``1/(n+1)`` of them, all to it), and removing a node moves only the keys it owned. The naive
``hash(session_id) % n`` remaps almost every key when ``n`` changes.

Affinity is an optimisation, never a correctness condition: a node that serves a session it
does not own claims the session's lease like any other, and fencing keeps the session
consistent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sessionful.errors import ConfigurationError
from sessionful.keys import SessionKey

__all__ = ["owner_of", "ranked", "score"]


def score(node: str, key: SessionKey | str) -> int:
    """The weight of ``node`` for ``key``: 64 bits of BLAKE2b over both, length-prefixed so no
    two different pairs hash the same input. Stable across processes, machines and versions
    (unlike Python's salted ``hash``)."""
    node_bytes = node.encode("utf-8", "surrogatepass")
    key_bytes = str(key).encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(digest_size=8)
    digest.update(len(node_bytes).to_bytes(4, "big"))
    digest.update(node_bytes)
    digest.update(key_bytes)
    return int.from_bytes(digest.digest(), "big")


def ranked(key: SessionKey | str, nodes: Iterable[str]) -> list[str]:
    """``nodes`` from the best owner of ``key`` to the worst: the fallback order when the owner
    is down. Ties (astronomically unlikely) break by node name, so the order is total."""
    unique = set(nodes)
    return sorted(unique, key=lambda node: (-score(node, key), node))


def owner_of(key: SessionKey | str, nodes: Iterable[str]) -> str:
    """The node that should serve ``key``; raises ``ConfigurationError`` for an empty set."""
    best: tuple[int, str] | None = None
    for node in set(nodes):
        candidate = (score(node, key), node)
        # Highest score wins; on a tie the smaller name, to agree with ranked().
        if best is None or candidate[0] > best[0] or (candidate[0] == best[0] and node < best[1]):
            best = candidate
    if best is None:
        raise ConfigurationError("owner_of needs at least one node")
    return best[1]
