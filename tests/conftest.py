"""Test set-up shared by every suite: the environment, set *before* anything imports the
app, because Piccolo's engine is built from the settings on first import.

The unit tests (tests/unit) need no database: run alone (`make test-unit`), DATABASE_URL
names a port nothing listens on, so a unit test that reaches for PostgreSQL fails at once.
Any other run gets a real one: TEST_DATABASE_URL when set, otherwise a `<name>_test`
sibling of DATABASE_URL, otherwise `linkmint_test` on the embedded server under ./var/pg
(so `make test` passes on a machine with no PostgreSQL). The database fixtures live in
tests/support/database.py, loaded by the integration and browser suites' conftests.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(tempfile.mkdtemp(prefix="linkmint-test-"))

# Known credentials, so that a test can act as Whop itself (sign webhooks, mint tokens).
TEST_ENV = {
    "APP_URL": "http://testserver.local",
    # testserver.local is not loopback: the emulator serves it because the tests say so.
    "WHOP_EMULATOR": "1",
    "SECRET_KEY": "test-secret-key-" + "x" * 40,
    "WHOP_API_KEY": "apik_test_platform_key",
    "WHOP_CLIENT_ID": "app_TestClient0001",
    "WHOP_CLIENT_SECRET": "test-client-secret",
    "WHOP_PARENT_COMPANY_ID": "biz_TestPlatform001",
    "WHOP_WEBHOOK_SECRET": "ws_test_webhook_secret_0123456789abcdef",
    "WHOP_ELEMENTS_ENV": "sandbox",
    "DB_POOL_SIZE": "0",
    "VAR_DIR": str(VAR_DIR),
    "LOG_LEVEL": "WARNING",
    # A test server's own background pass would race the tests that converge by hand; the
    # tests that need it running start a server with their own period.
    "MAINTENANCE_SECONDS": "3600",
}


async def _ensure_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _test_database_url() -> str:
    # Under pytest-xdist (`-n 2`) each worker has a database of its own: `<name>_gw0`, ….
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    suffix = f"_{worker}" if re.fullmatch(r"gw\d+", worker) else ""
    if url := os.environ.get("TEST_DATABASE_URL"):
        return _ensured(url, suffix)
    if url := os.environ.get("DATABASE_URL"):
        return _ensured(url, "_test" + suffix)
    from app.db.engine import embedded_database_url

    return embedded_database_url(ROOT / "var", database="linkmint_test" + suffix)


def _ensured(url: str, suffix: str) -> str:
    parts = urlsplit(url)
    query = parts.query
    if parts.hostname in LOOPBACK and "sslmode=" not in query:
        # The tests connect once per query (DB_POOL_SIZE=0); asyncpg's default asks a
        # loopback server for TLS first each time, a round trip (and a handshake, where the
        # server has TLS on) that cost about a sixth of the integration suite's time.
        query = "&".join(filter(None, (query, "sslmode=disable")))
    url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix, query=query))
    asyncio.run(_ensure_database(url))
    return url


LOOPBACK = ("127.0.0.1", "localhost", "::1")


# Where unit tests point: refused at once, never a database.
NO_DATABASE = "postgresql://unit-tests@127.0.0.1:9/unit_tests_use_no_database"
UNIT = ROOT / "tests" / "unit"

for _name in ("WHOP_API_BASE", "WHOP_OAUTH_BASE"):
    os.environ.pop(_name, None)  # tests run against the emulator
os.environ.update(TEST_ENV)


def _only_unit_tests(config: pytest.Config) -> bool:
    paths = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return bool(paths) and all(path.is_relative_to(UNIT) for path in paths)


def pytest_configure(config: pytest.Config) -> None:
    """Before any test module imports the app: the database this run uses, if any."""
    if _only_unit_tests(config):
        os.environ["DATABASE_URL"] = NO_DATABASE
    else:
        os.environ["DATABASE_URL"] = _test_database_url()


@pytest.fixture(scope="session")
def settings():
    from app.config import load_settings

    return load_settings()


# The suites by what a test file costs, most first: browser files take tens of seconds,
# integration files seconds, unit files fractions of one.
SUITE_ORDER = ("browser", "integration", "unit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the costly files first: those marked `costly` (a test of tens of seconds), then
    the suites in SUITE_ORDER (a stable sort: otherwise files and tests keep their order).
    CI runs `--dist loadfile --no-loadscope-reorder`, so the two workers take files in this
    order and the run ends on short unit files, instead of one worker starting a minute-long
    test last while the other waits (xdist's own order, by number of tests, put exactly
    those one-test files last)."""

    def cost(item: pytest.Item) -> tuple[bool, int]:
        parts = Path(str(item.path)).relative_to(ROOT).parts
        suite = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
        rank = SUITE_ORDER.index(suite) if suite in SUITE_ORDER else len(SUITE_ORDER)
        return item.get_closest_marker("costly") is None, rank

    items.sort(key=cost)
