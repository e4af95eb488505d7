"""Fixtures of the openai-agents adapter's tests: a store URL per backend."""

from __future__ import annotations

from support.postgres import postgres_url, store_url

__all__ = ["postgres_url", "store_url"]  # the shared fixtures, imported to be found here
