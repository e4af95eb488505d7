"""The throwaway PostgreSQL server the tests use, when ``scripts/with-postgres.sh`` started one
(``make pytest`` does): its URL, and a schema of one's own on it.

The fixtures here are imported by the conftests that offer them (the root one, the adapters'),
so every suite gets the same isolation and the same loud skip without a server.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

__all__ = [
    "NO_POSTGRES",
    "POSTGRES_DSN_ENV",
    "postgres_url",
    "schema_url",
    "store_url",
    "with_search_path",
]

POSTGRES_DSN_ENV = "SESSIONFUL_TEST_POSTGRES_DSN"
"""Set by ``scripts/with-postgres.sh`` (so by ``make pytest``) to the throwaway server's URL."""

NO_POSTGRES = (
    f"NO POSTGRESQL SERVER: {POSTGRES_DSN_ENV} is not set, so this Postgres test is SKIPPED. "
    "Run the tests through scripts/with-postgres.sh (make pytest does), on a machine with the "
    "PostgreSQL server binaries (Debian: apt-get install postgresql)."
)


def with_search_path(dsn: str, schema: str) -> str:
    """``dsn`` with ``options=-csearch_path=<schema>`` added to its query string."""
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


@contextlib.contextmanager
def schema_url() -> Iterator[str]:
    """A ``postgresql://`` URL whose connections see an empty schema of their own (its name in
    ``search_path``), dropped afterwards: isolated tables on the shared test server, also from
    child processes given the URL. Skips, loudly, without a server."""
    base = os.environ.get(POSTGRES_DSN_ENV)
    if not base:
        pytest.skip(NO_POSTGRES)
    import psycopg
    from psycopg import sql

    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_search_path(base, schema)
    finally:
        # A child still holding a lock leaves the schema to die with the throwaway server.
        with contextlib.suppress(psycopg.Error), psycopg.connect(base, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A schema of its own on the test server (:func:`schema_url`), for one test."""
    with schema_url() as url:
        yield url


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL on each backend (Postgres skips without a test server)."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
