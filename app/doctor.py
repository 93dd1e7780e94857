"""`linkmint doctor`: what an operator checks before going live, one line per check.

Each check says what it found and, when it fails, what to change. It reads and never
writes: not the database (a fresh one gets no migration table from it), not Whop. Secrets
are shown by their shape only (Whop's prefix and the length), never their value.

Whop is asked once for the platform's own company, which tries the API key and
WHOP_PARENT_COMPANY_ID together and brings Whop's clock (the `Date` header) along; Sign in
with Whop is tried the way a sign-in verifies its id_token (app/auth/oidc.py). Without
WHOP_API_BASE, "Whop" is the emulator inside `linkmint serve` at APP_URL/_whop, so those
checks need the server running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import asyncpg
from piccolo.apps.migrations.commands.base import BaseMigrationManager

from app.auth.oidc import JwksCache, SignInFailed
from app.config import WHOP_SETTINGS, Settings
from app.db.engine import BoundedPostgresEngine
from app.db.outage import DatabaseUnavailable, describe
from app.whop import (
    RetryPolicy,
    WhopClient,
    WhopError,
    WhopNotFound,
    WhopOAuth,
    WhopUnauthorized,
    WhopUnavailable,
)

CLOCK_TOLERANCE = 30  # seconds; id_tokens and webhook timestamps are checked against our clock
_SECRET_PREFIXES = ("apik_", "whsec_", "ws_")  # Whop's own; nothing else of a secret is shown


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'ok' if self.ok else 'FAIL':<5} {self.check:<13} {self.detail}"
        return text if self.ok else f"{text}; fix: {self.fix}"


def shape(secret: str) -> str:
    """`ws_… (40 characters)`: enough to tell which secret is set, nothing to use."""
    prefix = next((p for p in _SECRET_PREFIXES if secret.startswith(p)), "")
    return f"{prefix}… ({len(secret)} characters)" if secret else "empty"


async def diagnose(settings: Settings, engine: BoundedPostgresEngine) -> list[Finding]:
    findings = [
        app_url_finding(settings),
        emulator_finding(settings),
        redirect_uri_finding(settings),
        webhook_finding(settings),
    ]
    findings += await database_findings(settings, engine)
    findings += await whop_api_findings(settings)
    findings.append(await sign_in_finding(settings))
    return findings


def report(findings: list[Finding]) -> str:
    failed = sum(not f.ok for f in findings)
    summary = (
        f"all {len(findings)} checks passed"
        if not failed
        else f"{failed} of {len(findings)} checks failed"
    )
    return "\n".join([*(f.line() for f in findings), summary])


# --- the settings ---------------------------------------------------------------------


def app_url_finding(settings: Settings) -> Finding:
    url = settings.app_url
    if url.startswith("https://"):
        return Finding("APP_URL", True, f"{url} is https (Secure cookies, HSTS)")
    if settings.loopback:
        return Finding("APP_URL", True, f"{url} is loopback: plain http reaches this machine only")
    return Finding(
        "APP_URL",
        False,
        f"{url} is public but not https: sessions and CSRF tokens would cross the network in clear",
        "set APP_URL to the https:// URL your TLS-terminating proxy serves",
    )


def emulator_finding(settings: Settings) -> Finding:
    if not settings.emulator_enabled:
        return Finding(
            "emulator", True, f"not mounted: WHOP_API_BASE points at {settings.api_base}"
        )
    where = f"{settings.app_url}/_whop"
    if settings.loopback:
        return Finding(
            "emulator", True, f"mounted at {where}: APP_URL is loopback (development only)"
        )
    return Finding(
        "emulator",
        False,
        f"mounted at {where} because WHOP_EMULATOR=1: anyone can sign in there as any user, "
        "and no payment is real",
        f"to go live, unset WHOP_EMULATOR and set {WHOP_SETTINGS}",
    )


def redirect_uri_finding(settings: Settings) -> Finding:
    who = (
        "the emulator registers it itself"
        if settings.emulator_enabled
        else "register exactly this URI for the OAuth app in Whop's developer dashboard"
    )
    return Finding(
        "redirect URI",
        True,
        f"{settings.redirect_uri} ({who}); client {settings.whop_client_id}, "
        f"WHOP_CLIENT_SECRET {shape(settings.whop_client_secret)}",
    )


def webhook_finding(settings: Settings) -> Finding:
    secret = settings.whop_webhook_secret
    target = f"Whop must deliver to {settings.app_url}/webhooks/whop"
    if not secret:
        return Finding(
            "webhooks",
            False,
            f"WHOP_WEBHOOK_SECRET is not set; {target}",
            "create the webhook in Whop's dashboard (API version v1, child_resource_events) "
            "and put its secret in WHOP_WEBHOOK_SECRET",
        )
    return Finding("webhooks", True, f"WHOP_WEBHOOK_SECRET {shape(secret)}; {target}")


# --- the database -----------------------------------------------------------------------


def _where(settings: Settings, engine: BoundedPostgresEngine) -> str:
    if settings.database_url is None:
        return f"the embedded server under {settings.var_dir / 'pg'}"
    return _host(engine.config["dsn"])


async def database_findings(settings: Settings, engine: BoundedPostgresEngine) -> list[Finding]:
    where = _where(settings, engine)
    try:
        async with engine.connection() as conn:
            version = await conn.fetchval("SHOW server_version")
            has_table = await conn.fetchval("SELECT to_regclass('migration') IS NOT NULL")
            applied = (
                {
                    (r["app_name"], r["name"])
                    for r in await conn.fetch("SELECT app_name, name FROM migration")
                }
                if has_table
                else set()
            )
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        # DatabaseUnavailable (an OSError) already says "database unreachable (…)".
        problem = str(exc) if isinstance(exc, DatabaseUnavailable) else describe(exc)
        return [
            Finding(
                "database",
                False,
                f"{where} cannot be used: {problem}",
                "check DATABASE_URL (host, port, database, user, password) and that "
                "PostgreSQL is running and reachable from here",
            ),
            Finding(
                "migrations", False, "not checked without the database", "fix the database first"
            ),
        ]
    database = Finding("database", True, f"{where} answers (PostgreSQL {version})")
    findings = [database, _migrations_finding(applied, has_table)]
    if settings.database_pooler != "none":
        findings.append(await pooler_finding(settings, engine))
    if settings.database_replica_url is not None:
        findings.append(await replica_finding(settings, engine))
    if settings.inbox_workers == 0:
        findings.append(await inbox_finding(engine))
    return findings


def _host(url: str) -> str:
    """Where `url` points: host, port and database, never the password. A server reached
    by its Unix socket (`postgresql:///db?host=/run/postgresql`) is named by the socket's
    directory."""
    parts = urlsplit(url)
    socket_dir = dict(parse_qsl(parts.query)).get("host", "")
    if parts.hostname is None and socket_dir.startswith("/"):
        return f"{socket_dir} (socket){parts.path}"
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


async def pooler_finding(settings: Settings, engine: BoundedPostgresEngine) -> Finding:
    """Behind a transaction pooler: PostgreSQL itself answers at DATABASE_DIRECT_URL, and
    statements through the pooler are bounded by the server (no startup parameter can say
    so through PgBouncer: the role's or the database's own setting must)."""
    direct = _host(settings.database_direct_url or "")
    try:
        conn = await asyncpg.connect(**engine.direct_config)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
        async with engine.connection() as pooled:
            timeout = await pooled.fetchval("SHOW statement_timeout")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        return Finding(
            "pooler",
            False,
            f"DATABASE_DIRECT_URL {direct} cannot be used: {describe(exc)}",
            "set DATABASE_DIRECT_URL to PostgreSQL itself (not the pooler): LISTEN, session "
            "locks and migrations go there",
        )
    if timeout in ("0", "0ms"):
        return Finding(
            "pooler",
            False,
            "statements through the pooler have no statement_timeout",
            f"ALTER ROLE <the app's user> SET statement_timeout = "
            f"'{settings.db_statement_timeout:g}s' (PgBouncer passes no startup parameter)",
        )
    return Finding(
        "pooler",
        True,
        f"{settings.database_pooler} in transaction mode (no named prepared statements); "
        f"statement_timeout {timeout} through it; LISTEN, locks and migrations at {direct}",
    )


async def replica_finding(settings: Settings, engine: BoundedPostgresEngine) -> Finding:
    """DATABASE_REPLICA_URL answers, is a standby, and how far behind the primary it is."""
    from app.db.engine import make_replica_engine

    replica = make_replica_engine(settings)
    assert replica is not None
    where = _host(settings.database_replica_url or "")
    try:
        async with replica.connection() as conn:
            standby = await conn.fetchrow(
                "SELECT pg_is_in_recovery() AS recovering, "
                "(pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8 AS replayed, "
                "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS age"
            )
        async with engine.connection() as conn:
            written = await conn.fetchval("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        return Finding(
            "replica",
            False,
            f"{where} cannot be used: {describe(exc)}",
            "check DATABASE_REPLICA_URL, or unset it (public pages are then read from "
            "DATABASE_URL)",
        )
    if not standby["recovering"]:
        return Finding(
            "replica",
            False,
            f"{where} is not a standby (pg_is_in_recovery() is false)",
            "point DATABASE_REPLICA_URL at a streaming standby of DATABASE_URL's database",
        )
    behind = max(0, written - (standby["replayed"] or 0))
    age = "" if standby["age"] is None else f", last replayed commit {standby['age']:.1f} s old"
    return Finding(
        "replica",
        True,
        f"{where} is a standby, {behind:,} bytes of WAL behind{age}; public pages read "
        "there once it has replayed the changes heard of",
    )


async def inbox_finding(engine: BoundedPostgresEngine) -> Finding:
    """With INBOX_WORKERS=0 the app processes leave webhook events to `linkmint inbox`: is
    one processing (holding its turn's advisory lock on this database)?"""
    from app.payments.inbox_process import INBOX_PROCESS_LOCK

    try:
        async with engine.connection() as conn:
            holder = await conn.fetchval(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = $1 AND objid = $2 AND objsubid = 1",
                INBOX_PROCESS_LOCK >> 32,
                INBOX_PROCESS_LOCK & 0xFFFF_FFFF,
            )
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        return Finding("inbox", False, f"not checked: {describe(exc)}", "fix the database first")
    if holder is None:
        return Finding(
            "inbox",
            False,
            "INBOX_WORKERS=0, and no `linkmint inbox` is processing: webhook events wait for "
            "the app processes' drainer (30 s to a minute and more)",
            "start `linkmint inbox` (deploy/systemd/linkmint-inbox.service), or unset "
            "INBOX_WORKERS so that each app process processes what it stores",
        )
    return Finding(
        "inbox",
        True,
        f"INBOX_WORKERS=0: `linkmint inbox` processes the webhook events (PostgreSQL backend "
        f"{holder} holds its turn)",
    )


def shipped_migrations() -> set[tuple[str, str]]:
    """(app, migration id) of every migration file this Linkmint ships, as Piccolo finds them."""
    finder = BaseMigrationManager()
    shipped: set[tuple[str, str]] = set()
    for app_config in finder.get_app_configs():
        modules = finder.get_migration_modules(app_config.resolved_migrations_folder_path)
        shipped.update((app_config.app_name, migration_id) for migration_id in modules)
    return shipped


def _listed(migrations: set[tuple[str, str]], most: int = 3) -> str:
    names = [f"{app} {name}" for app, name in sorted(migrations)]
    return ", ".join(names[:most]) + (", …" if len(names) > most else "")


def _migrations_finding(applied: set[tuple[str, str]], has_table: bool) -> Finding:
    shipped = shipped_migrations()
    pending, unknown = shipped - applied, applied - shipped
    if unknown:
        return Finding(
            "migrations",
            False,
            f"the database has {len(unknown)} migration(s) this version does not ship "
            f"({_listed(unknown)}): a newer Linkmint migrated it",
            "deploy the version that migrated this database, or point DATABASE_URL at the "
            "database this version belongs to",
        )
    if pending:
        found = "no migration table" if not has_table else f"{len(pending)} not applied"
        return Finding(
            "migrations",
            False,
            f"{found}: {len(pending)} of {len(shipped)} pending ({_listed(pending)})",
            "run `linkmint migrate`",
        )
    return Finding("migrations", True, f"all {len(shipped)} applied")


# --- Whop ---------------------------------------------------------------------------------


def _unreachable_fix(settings: Settings) -> str:
    if settings.emulator_enabled:
        return (
            "the emulator answers only while `linkmint serve` runs on APP_URL: start it "
            "(or `make run`), then run doctor again"
        )
    return "check WHOP_API_BASE (Whop: https://api.whop.com/api/v1) and outbound HTTPS"


async def whop_api_findings(settings: Settings) -> list[Finding]:
    """The API key reads the parent company; Whop's `Date` on that answer against our clock."""
    key = f"WHOP_API_KEY {shape(settings.whop_api_key)}"
    try:
        async with WhopClient.connect(settings, retry=RetryPolicy(attempts=1)) as whop:
            company, answered_at = await whop.retrieve_parent_company()
            received_at = datetime.now(UTC)
    except WhopError as exc:
        detail, fix = _api_trouble(settings, key, exc)
        unchecked = "not checked: it needs a successful answer from Whop's API"
        return [
            Finding("Whop API key", False, detail, fix),
            Finding("clock", False, unchecked, "fix the Whop API key check first"),
        ]
    api = Finding("Whop API key", True, f"{key} reads {company.id} ({company.title!r})")
    return [api, _clock_finding(answered_at, received_at)]


def _api_trouble(settings: Settings, key: str, exc: WhopError) -> tuple[str, str]:
    """What went wrong reading the parent company, and what to change."""
    parent = settings.whop_parent_company_id
    if isinstance(exc, WhopUnauthorized) and exc.status == 403:
        return (
            f"{key} may not read WHOP_PARENT_COMPANY_ID {parent}: {exc.reason}",
            "use the platform company's own API key, and its biz_… id in WHOP_PARENT_COMPANY_ID",
        )
    if isinstance(exc, WhopUnauthorized):
        return (
            f"Whop refused {key}: {exc.reason}",
            "put the platform company's API key from Whop's developer dashboard in "
            "WHOP_API_KEY (sandbox and production keys differ)",
        )
    if isinstance(exc, WhopNotFound):
        return (
            f"{key} finds no company {parent}: {exc.reason}",
            "set WHOP_PARENT_COMPANY_ID to the platform company's biz_… id",
        )
    if isinstance(exc, WhopUnavailable):
        return f"no answer from {settings.api_base}: {exc.reason}", _unreachable_fix(settings)
    return (  # refused otherwise, or answered something unreadable
        f"reading company {parent} failed: {exc.reason}",
        f"check that WHOP_API_BASE ({settings.api_base}) is Whop's REST base",
    )


def _clock_finding(answered_at: datetime | None, received_at: datetime) -> Finding:
    if answered_at is None:
        return Finding(
            "clock",
            False,
            "Whop's answer carried no readable Date header",
            "check that WHOP_API_BASE reaches Whop itself, not a proxy that strips headers",
        )
    # Date is cut to the whole second: half a second is the likeliest part it left out.
    skew = round((received_at - answered_at).total_seconds() - 0.5)
    if skew == 0:
        detail = "this machine's clock agrees with Whop's Date header"
    else:
        direction = "ahead of" if skew > 0 else "behind"
        detail = f"this machine's clock is {abs(skew)} s {direction} Whop's Date header"
    if abs(skew) > CLOCK_TOLERANCE:
        return Finding(
            "clock",
            False,
            f"{detail}, more than {CLOCK_TOLERANCE} s: id_tokens and webhook timestamps "
            "would be judged by the wrong time",
            "synchronise the clock (NTP: `timedatectl set-ntp true`, or chrony)",
        )
    return Finding("clock", True, f"{detail}, within {CLOCK_TOLERANCE} s")


async def sign_in_finding(settings: Settings) -> Finding:
    """Discovery names the issuer we expect, its jwks_uri answers, and the keys parse."""
    async with WhopOAuth(settings) as oauth:
        issuer = oauth.issuer
        try:
            keys = await JwksCache().key_set(oauth)
        except SignInFailed as exc:
            discovery = f"{settings.oauth_authority}/.well-known/openid-configuration"
            if exc.reason == "whop_unreachable":
                detail = f"no answer from {discovery} ({exc.detail})"
                return Finding("sign-in", False, detail, _unreachable_fix(settings))
            return Finding(
                "sign-in",
                False,
                f"{discovery}: {exc.detail or exc.reason}",
                "check WHOP_OAUTH_BASE (Whop: https://api.whop.com/oauth; discovery is read "
                "above its /oauth) and, when Whop names another issuer, WHOP_OAUTH_ISSUER",
            )
    if not keys.keys:
        return Finding(
            "sign-in",
            False,
            f"issuer {issuer} publishes no signing keys",
            "check WHOP_OAUTH_BASE: its issuer's jwks_uri should list Whop's keys",
        )
    algorithms = sorted({key.alg or key.key_type for key in keys.keys})
    return Finding(
        "sign-in",
        True,
        f"issuer {issuer}: discovery and its jwks_uri answer, {len(keys.keys)} key(s) "
        f"({', '.join(algorithms)})",
    )
