"""The benchmark's own database: where it lives, and a fresh one for every run."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "linkmint_bench"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def _reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def choose_url(environ: Mapping[str, str], dotenv: Mapping[str, str | None]) -> str:
    """BENCH_DATABASE_URL as given; else `linkmint_bench` on DATABASE_URL's server; else on
    the PostgreSQL at 127.0.0.1:5432; else on the embedded server under ./var/pg."""
    if url := environ.get("BENCH_DATABASE_URL"):
        return url
    if url := environ.get("DATABASE_URL") or dotenv.get("DATABASE_URL"):
        return with_database(url, BENCH_DATABASE)
    if asyncio.run(_reachable(LOCAL_SERVER)):
        return with_database(LOCAL_SERVER, BENCH_DATABASE)
    from app.db.engine import embedded_database_url

    return embedded_database_url(ROOT / "var", database=BENCH_DATABASE)


async def recreate(url: str) -> str:
    """Drop and create the bench database (only ever one whose name says "bench");
    returns the server's version."""
    name = database_name(url)
    if "bench" not in name or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to recreate database {name!r}: its name must contain 'bench'")
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        return await admin.fetchval("SHOW server_version")
    finally:
        await admin.close()


async def migrate() -> None:
    """The app's migrations (what `linkmint migrate` runs), quietly."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}\n{chatter.getvalue()}")
