"""psycopg, imported on first use, and the retry loop every PostgreSQL operation runs in."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

from sessionful.errors import StoreError, StoreUnavailable

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import TupleRow
    from psycopg_pool import AsyncConnectionPool

    Conn = AsyncConnection[TupleRow]

__all__ = ["INSTALL_HINT", "modules", "run"]

T = TypeVar("T")

INSTALL_HINT = "pip install 'sessionful[postgres]'"
"""What to run when psycopg is missing."""


def modules() -> tuple[ModuleType, ModuleType]:
    """psycopg and psycopg_pool, or an ImportError saying how to install them."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise ImportError(
            f"the postgres store needs psycopg 3 and psycopg-pool: {INSTALL_HINT} ({exc})"
        ) from exc
    return psycopg, psycopg_pool


async def run(
    pool: AsyncConnectionPool[Conn],
    operation: Callable[[Conn, int], Awaitable[T]],
    retry: float,
    where: str,
) -> T:
    """Run ``operation(conn, attempt)`` on a connection of ``pool``, retrying connection losses,
    serialization failures and deadlocks for ``retry`` seconds, then ``StoreUnavailable``
    (naming ``where``). Any other database error becomes ``StoreError``."""
    psycopg, _ = modules()
    deadline = time.monotonic() + retry
    pause = 0.02
    attempt = 0
    while True:
        try:
            wait = max(0.05, deadline - time.monotonic())
            async with pool.connection(timeout=wait) as conn:
                return await operation(conn, attempt)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise StoreUnavailable(
                    f"PostgreSQL at {where} stayed unavailable for {retry:g} s: {exc}"
                ) from exc
            await asyncio.sleep(min(pause * (1 + random.random()), deadline - time.monotonic()))
            pause = min(pause * 2, 1.0)
            attempt += 1
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {where} refused: {exc}") from exc
