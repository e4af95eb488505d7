"""Fixtures of the openai-agents adapter's tests: a store URL per backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

POSTGRES_DSN_ENV = "SESSIONFUL_TEST_POSTGRES_DSN"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty schema of its own on the test server (``scripts/with-postgres.sh``)."""
    base = os.environ.get(POSTGRES_DSN_ENV)
    if not base:
        pytest.skip(f"NO POSTGRESQL SERVER: {POSTGRES_DSN_ENV} is not set (run make pytest)")
    import psycopg
    from psycopg import sql

    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}', safe='')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL on each backend (Postgres skips without a test server)."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
