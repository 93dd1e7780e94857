"""`linkmint doctor`, the preflight before going live: against the emulator inside a live
`linkmint serve` standing in for Whop (WHOP_API_BASE and WHOP_OAUTH_BASE at its /_whop),
with a good configuration and with each kind of broken one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from piccolo.engine import engine_finder

from app.config import Settings, settings_from
from app.db.engine import make_engine
from app.doctor import Finding, diagnose, emulator_finding, shipped_migrations
from tests.support.servers import ROOT, free_port

CHECKS = [
    "APP_URL", "emulator", "redirect URI", "webhooks", "database", "migrations",
    "Whop API key", "clock", "sign-in",
]  # fmt: skip
SECRETS = ("WHOP_API_KEY", "WHOP_CLIENT_SECRET", "WHOP_WEBHOOK_SECRET", "SECRET_KEY")


def at_whop(whop_origin: str, **overrides: str) -> dict[str, str]:
    """The test credentials, with Whop at `whop_origin`'s emulator and a public https site."""
    return {
        **os.environ,
        "APP_URL": "https://linkmint.example",
        "WHOP_EMULATOR": "",
        "WHOP_API_BASE": f"{whop_origin}/_whop/api/v1",
        "WHOP_OAUTH_BASE": f"{whop_origin}/_whop/oauth",
        **overrides,
    }


async def doctor(env: dict[str, str], engine=None) -> dict[str, Finding]:
    settings: Settings = settings_from(env)
    findings = await diagnose(settings, engine or engine_finder())
    assert [f.check for f in findings] == CHECKS
    return {f.check: f for f in findings}


def failed(findings: dict[str, Finding]) -> set[str]:
    return {name for name, finding in findings.items() if not finding.ok}


# --- a good configuration -----------------------------------------------------------------


def test_a_good_configuration_passes_every_check_and_exits_0(live_server):
    env = at_whop(live_server)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "doctor"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(CHECKS) + 1 and lines[-1] == f"all {len(CHECKS)} checks passed"
    for line, check in zip(lines, CHECKS, strict=False):
        assert line.startswith("ok") and f" {check} " in line
    out = done.stdout
    assert "not mounted: WHOP_API_BASE points at" in out
    assert "https://linkmint.example/auth/callback (register exactly this URI" in out
    assert "WHOP_WEBHOOK_SECRET ws_… (" in out and "WHOP_API_KEY apik_… (" in out
    assert "reads biz_TestPlatform001" in out
    assert f"migrations    all {len(shipped_migrations())} applied" in out
    for name in SECRETS:
        assert env[name] not in out + done.stderr


async def test_the_emulator_on_loopback_is_a_pass_and_says_why(live_server):
    # Without WHOP_API_BASE "Whop" is the emulator of the server at APP_URL.
    env = {**os.environ, "APP_URL": live_server, "WHOP_EMULATOR": ""}
    findings = await doctor(env)
    assert failed(findings) == set()
    assert findings["emulator"].detail.endswith("APP_URL is loopback (development only)")
    assert findings["APP_URL"].detail.endswith("is loopback: plain http reaches this machine only")


# --- broken ones ----------------------------------------------------------------------


async def test_a_wrong_api_key_fails_the_key_and_leaves_the_clock_unchecked(live_server):
    wrong = "apik_not_the_platform_key_0123456789"
    findings = await doctor(at_whop(live_server, WHOP_API_KEY=wrong))
    assert failed(findings) == {"Whop API key", "clock"}
    key = findings["Whop API key"]
    assert key.detail.startswith("Whop refused WHOP_API_KEY apik_… (36 characters): 401")
    assert "WHOP_API_KEY" in key.fix
    assert wrong not in key.line()


async def test_a_wrong_parent_company_is_named(live_server):
    findings = await doctor(at_whop(live_server, WHOP_PARENT_COMPANY_ID="biz_NotOurs00000001"))
    assert failed(findings) == {"Whop API key", "clock"}
    assert "finds no company biz_NotOurs00000001: 404" in findings["Whop API key"].detail
    assert "WHOP_PARENT_COMPANY_ID" in findings["Whop API key"].fix


async def test_whop_unreachable_fails_every_whop_check():
    nowhere = f"http://127.0.0.1:{free_port()}"
    findings = await doctor(at_whop(nowhere))
    assert failed(findings) == {"Whop API key", "clock", "sign-in"}
    assert findings["Whop API key"].detail.startswith(f"no answer from {nowhere}/_whop/api/v1")
    assert findings["sign-in"].detail.startswith(f"no answer from {nowhere}/_whop/.well-known")
    assert "WHOP_API_BASE" in findings["Whop API key"].fix


async def test_an_issuer_that_does_not_match_fails_sign_in(live_server):
    findings = await doctor(at_whop(live_server, WHOP_OAUTH_ISSUER="https://api.whop.com"))
    assert failed(findings) == {"sign-in"}
    sign_in = findings["sign-in"]
    assert f"{live_server}/_whop/.well-known/openid-configuration: " in sign_in.detail
    assert "https://api.whop.com" in sign_in.detail and f"{live_server}/_whop" in sign_in.detail
    assert "WHOP_OAUTH_ISSUER" in sign_in.fix


async def test_a_plain_http_public_app_url_fails(live_server):
    findings = await doctor(at_whop(live_server, APP_URL="http://linkmint.example"))
    assert failed(findings) == {"APP_URL"}
    assert "https://" in findings["APP_URL"].fix


def test_the_emulator_exposed_on_purpose_is_not_ready_to_go_live():
    env = {**os.environ, "APP_URL": "https://demo.linkmint.example", "WHOP_EMULATOR": "1"}
    emulator = emulator_finding(settings_from(env))
    assert not emulator.ok and "because WHOP_EMULATOR=1" in emulator.detail
    assert "unset WHOP_EMULATOR" in emulator.fix and "WHOP_WEBHOOK_SECRET" in emulator.fix


@contextmanager
def whop_with_its_clock_off(by: timedelta | None, company_id: str) -> Iterator[str]:
    """A stand-in Whop on 127.0.0.1 that reads out the parent company with a `Date` header
    `by` away from ours (None: no Date at all)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != f"/api/v1/companies/{company_id}":
                self.send_error(404)
                return
            body = json.dumps({"id": company_id, "title": "Platform"}).encode()
            self.send_response_only(200)
            if by is not None:
                self.send_header("Date", format_datetime(datetime.now(UTC) + by, usegmt=True))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "by,words", [(timedelta(seconds=-95), "95 s ahead of"), (timedelta(minutes=3), "180 s behind")]
)
async def test_a_clock_more_than_30_seconds_off_whops_date_fails(settings, by, words):
    with whop_with_its_clock_off(by, settings.whop_parent_company_id) as origin:
        env = at_whop(origin)
        env["WHOP_API_BASE"] = f"{origin}/api/v1"
        findings = await doctor(env)
    assert findings["Whop API key"].ok
    clock = findings["clock"]
    assert not clock.ok and words in clock.detail and "NTP" in clock.fix


async def test_a_clock_within_30_seconds_passes(settings):
    with whop_with_its_clock_off(timedelta(seconds=-20), settings.whop_parent_company_id) as o:
        env = at_whop(o)
        env["WHOP_API_BASE"] = f"{o}/api/v1"
        findings = await doctor(env)
    assert findings["clock"].ok and "20 s ahead of" in findings["clock"].detail


async def test_an_answer_without_a_date_header_fails_the_clock(settings):
    with whop_with_its_clock_off(None, settings.whop_parent_company_id) as origin:
        env = at_whop(origin)
        env["WHOP_API_BASE"] = f"{origin}/api/v1"
        findings = await doctor(env)
    assert findings["Whop API key"].ok
    assert findings["clock"].detail == "Whop's answer carried no readable Date header"


# --- the database -----------------------------------------------------------------------


def _sibling(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture
async def empty_database() -> str:
    """A fresh database beside the test database: nothing migrated, not even Piccolo's table."""
    url = os.environ["DATABASE_URL"]
    name = urlsplit(url).path.lstrip("/") + "_doctor_empty"
    admin = await asyncpg.connect(_sibling(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield _sibling(url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_an_empty_database_fails_migrations_and_stays_empty(live_server, empty_database):
    env = at_whop(live_server, DATABASE_URL=empty_database)
    findings = await doctor(env, make_engine(settings_from(env)))
    assert failed(findings) == {"migrations"}
    migrations = findings["migrations"]
    count = len(shipped_migrations())
    assert migrations.detail.startswith(f"no migration table: {count} of {count} pending (app ")
    assert migrations.fix == "run `linkmint migrate`"
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT to_regclass('migration')") is None  # read only
    finally:
        await conn.close()


async def test_a_database_migrated_by_a_newer_version_is_named(live_server, empty_database):
    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute(
            "CREATE TABLE migration (id serial, name varchar(200), app_name varchar(200), "
            "ran_on timestamp DEFAULT now());"
            "INSERT INTO migration (name, app_name) VALUES ('2099-01-01T00:00:00:000000', 'app')"
        )
    finally:
        await conn.close()
    env = at_whop(live_server, DATABASE_URL=empty_database)
    findings = await doctor(env, make_engine(settings_from(env)))
    migrations = findings["migrations"]
    assert not migrations.ok
    assert "1 migration(s) this version does not ship (app 2099-01-01" in migrations.detail


async def test_an_unreachable_database_fails_with_where_it_was_looked_for(live_server):
    url = urlunsplit(
        urlsplit(os.environ["DATABASE_URL"])._replace(netloc=f"postgres:pw@127.0.0.1:{free_port()}")
    )
    env = at_whop(live_server, DATABASE_URL=url)
    with warnings.catch_warnings():  # Piccolo's own, on the way in
        warnings.simplefilter("ignore")
        engine = make_engine(settings_from(env))
    findings = await doctor(env, engine)
    assert failed(findings) == {"database", "migrations"}
    database = findings["database"]
    assert database.detail.startswith("127.0.0.1:") and "cannot be used: " in database.detail
    assert "pw" not in database.line()
    assert "DATABASE_URL" in database.fix


async def test_a_replica_that_is_not_a_standby_or_cannot_be_reached_fails(live_server):
    from app.doctor import replica_finding

    # DATABASE_URL's own server answers, but it is a primary: not in recovery.
    env = at_whop(live_server, DATABASE_REPLICA_URL=os.environ["DATABASE_URL"])
    findings = {f.check: f for f in await diagnose(settings_from(env), engine_finder())}
    assert not findings["replica"].ok and "is not a standby" in findings["replica"].detail
    assert "streaming standby" in findings["replica"].fix

    nowhere = urlunsplit(
        urlsplit(os.environ["DATABASE_URL"])._replace(netloc=f"postgres:pw@127.0.0.1:{free_port()}")
    )
    with warnings.catch_warnings():  # Piccolo's own, on the way in
        warnings.simplefilter("ignore")
        finding = await replica_finding(
            settings_from(at_whop(live_server, DATABASE_REPLICA_URL=nowhere)), engine_finder()
        )
    assert not finding.ok and "cannot be used" in finding.detail and "pw" not in finding.line()


def test_a_broken_configuration_exits_1_with_each_fix(live_server):
    env = at_whop(live_server, WHOP_API_KEY="apik_wrong_key_0000000000")
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "doctor"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"2 of {len(CHECKS)} checks failed"
    broken = [line for line in lines if line.startswith("FAIL")]
    assert [line.split()[1:3] for line in broken] == [["Whop", "API"], ["clock", "not"]]
    assert all("; fix: " in line for line in broken)
    assert "apik_wrong_key_0000000000" not in done.stdout + done.stderr
