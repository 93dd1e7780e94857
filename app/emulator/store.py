"""Connections to the emulator's tables, and the little conversions its SQL needs.

The emulator shares Linkmint's database (its own schema) and Piccolo's engine: the pool when
the app started one, otherwise a connection per use (tests, see docs/design.md §10). Queries are
plain asyncpg SQL with `$n` parameters; JSON goes in as text and comes out parsed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from app.db.engine import app_engine


@asynccontextmanager
async def connection() -> AsyncIterator[asyncpg.Connection]:
    async with app_engine().connection() as conn:  # bounded, and failing fast in an outage
        yield conn


@asynccontextmanager
async def transaction() -> AsyncIterator[asyncpg.Connection]:
    async with connection() as conn, conn.transaction():
        yield conn


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_json_default)


def loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def iso(moment: datetime | None) -> str | None:
    """Whop's timestamps: ISO 8601 in UTC with milliseconds and a Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def secret_hash(value: str) -> str:
    """Keys and tokens are kept as SHA-256 digests; the plain value is only ever handed out."""
    return hashlib.sha256(value.encode()).hexdigest()
