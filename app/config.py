"""Settings: read from the environment (and an optional `.env`) once, validated once.

Nothing else in Linkmint reads the environment. `load_settings()` is the one way in; tests
build `Settings` with their own values. When Linkmint runs against its Whop emulator (no
`WHOP_API_BASE`), any credential left unset is generated once into `VAR_DIR` and reused,
so the app and the emulator agree across restarts. Against real Whop nothing is generated:
a missing credential is an error that names the variable.

The emulator lets anyone sign in as any user it lists, so it is mounted only on a loopback
APP_URL or with WHOP_EMULATOR=1; a public APP_URL without Whop's settings refuses to start.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

# The variables Linkmint reads (docs/design.md §4), plus the operational knobs.
SECRET_NAMES = (
    "SECRET_KEY",
    "WHOP_API_KEY",
    "WHOP_CLIENT_SECRET",
    "WHOP_WEBHOOK_SECRET",
)
KNOWN_NAMES = (
    "APP_URL",
    "DATABASE_URL",
    "DATABASE_DIRECT_URL",
    "DATABASE_REPLICA_URL",
    "DATABASE_POOLER",
    "SECRET_KEY",
    "WHOP_API_BASE",
    "WHOP_OAUTH_BASE",
    "WHOP_OAUTH_ISSUER",
    "WHOP_API_KEY",
    "WHOP_CLIENT_ID",
    "WHOP_CLIENT_SECRET",
    "WHOP_PARENT_COMPANY_ID",
    "WHOP_WEBHOOK_SECRET",
    "WHOP_ELEMENTS_ENV",
    "WHOP_EMULATOR",
    "DB_POOL_SIZE",
    "INBOX_WORKERS",
    "INBOX_BATCH",
    "INBOX_WHOP_READS",
    "WHOP_EMULATOR_LATENCY_MS",
    "WHOP_EMULATOR_RATE_LIMIT",
    "VAR_DIR",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "DB_CONNECT_TIMEOUT",
    "DB_ACQUIRE_TIMEOUT",
    "DB_STATEMENT_TIMEOUT",
    "PAGE_CACHE_TTL",
    "LOG_REPEAT_WINDOW",
    "WHOP_REFUND_WINDOW_DAYS",
    "WHOP_PAGE_SIZE",
    "WHOP_LIST_CALLS_PER_MINUTE",
    "RECONCILE_SWEEP_SECONDS",
    "MAINTENANCE_SECONDS",
    "TRUSTED_PROXIES",
    "HTTP_HEADER_TIMEOUT",
    "HTTP_BODY_TIMEOUT",
    "HTTP_KEEP_ALIVE_TIMEOUT",
    "HTTP_CONCURRENCY_LIMIT",
    "COUNTRY_HEADER",
    "INSIGHTS_FLUSH_SECONDS",
    "INSIGHTS_DAILY_RETENTION_DAYS",
)

_ALNUM = string.ascii_letters + string.digits
# DATABASE_POOLER: what DATABASE_URL is (docs/operations.md).
POOLERS = ("none", "pgbouncer")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


def whop_id(prefix: str, length: int = 14) -> str:
    """An identifier shaped like Whop's (`biz_` + 14 alphanumerics)."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


@dataclass(frozen=True, slots=True)
class Settings:
    app_url: str
    secret_key: str
    whop_api_key: str
    whop_client_id: str
    whop_client_secret: str
    whop_parent_company_id: str
    whop_webhook_secret: str
    database_url: str | None = None  # None: the embedded server under VAR_DIR/pg
    # PostgreSQL itself, when DATABASE_URL is a transaction pooler (PgBouncer): what lives
    # on a session (LISTEN, session advisory locks) and migrations go here. None: DATABASE_URL.
    database_direct_url: str | None = None
    # A streaming standby that public pages are read from (app/db/replica.py); None: none.
    database_replica_url: str | None = None
    # "pgbouncer": DATABASE_URL is a pooler in transaction mode (no prepared statements kept
    # across transactions, no startup parameters beyond the basic ones); "none": PostgreSQL.
    database_pooler: str = "none"
    whop_api_base: str | None = None  # None: the emulator mounted at /_whop
    whop_oauth_base: str | None = None
    # The `iss` Whop's discovery document and id_tokens must name (WHOP_OAUTH_ISSUER); None:
    # `oauth_authority`. Some Whop sandboxes publish production's issuer.
    whop_oauth_issuer: str | None = None
    whop_elements_env: str = "sandbox"
    whop_emulator: bool = False  # WHOP_EMULATOR: the emulator may serve a public APP_URL
    db_pool_size: int = 10  # 0: no pool (tests; see notes on AsyncTestClient's loop)
    # Seconds. Every wait on PostgreSQL is bounded, so a frozen server fails requests fast
    # (app/db/engine.py); queries are cut off by the server, and by the client a second later.
    db_connect_timeout: float = 3.0
    db_acquire_timeout: float = 3.0
    db_statement_timeout: float = 5.0
    page_cache_ttl: float = 60.0  # seconds a rendered public page is served with no write
    inbox_workers: int = 2  # batches of webhook events under way per process (0: `linkmint inbox`)
    inbox_batch: int = 100  # at most this many events claimed and changed in one transaction
    inbox_whop_reads: int = 4  # the inbox's questions to Whop in flight per process
    # The emulated Whop answers its API this much later (milliseconds): Whop is tens of
    # milliseconds away, and the benchmarks measure with that.
    whop_emulator_latency_ms: int = 0
    # Calls a minute per operation and API key the emulated Whop answers before 429, as
    # Whop documents 600 (0: no limit, for tests and benchmarks that make many more).
    whop_emulator_rate_limit: int = 0
    var_dir: Path = field(default_factory=lambda: Path("var").resolve())  # ./var
    log_level: str = "INFO"
    # `json`: one JSON object per line, for a log collector; `text`: for a person at a
    # terminal. By default text on a loopback APP_URL (development), JSON anywhere else.
    log_format: str = "text"
    log_repeat_window: float = 60.0  # seconds a repeated failure is only counted (app/logs.py)
    # Reading Whop's records back (app/payments/sweep.py). Whop documents none of the first
    # two: they are the operator's to set.
    whop_refund_window_days: int = 30  # how long after a payment Whop may still refund it
    whop_page_size: int = 100  # `first` on Whop's list endpoints
    whop_list_calls_per_minute: int = 300  # the reconciler's share of Whop's 600/min limit
    reconcile_sweep_seconds: int = 300  # every company's payments are read at least this often
    maintenance_seconds: int = 60  # each process's drain/reconcile pass comes about this often
    # `linkmint serve` (app/web/serving.py). X-Forwarded-For is believed only from these
    # peers (addresses or networks): it is the client address of rate limits and /metrics.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    # Seconds a client may take to send a request's head, then its body; an idle keep-alive
    # connection is closed after the third. At most `http_concurrency_limit` connections
    # per process; beyond them, requests are answered 503.
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_keep_alive_timeout: float = 5.0
    http_concurrency_limit: int = 500
    # Insights (app/insights): the request header carrying the visitor's country, set by the
    # proxy in front (e.g. Cloudflare's CF-IPCountry); empty: countries are not counted. Only
    # name one that proxy always sets or overwrites, since a client can send any header.
    country_header: str = ""
    insights_flush_seconds: float = 5.0  # what a crash may lose of the counts, at most
    # Days of daily counts kept before they are folded into monthly ones
    # (app/insights/retention.py); never fewer than the Insights page's longest period.
    insights_daily_retention_days: int = 90

    def __post_init__(self) -> None:
        # However these settings were made (a test's dataclasses.replace too).
        refuse_exposed_emulator(self.app_url, self.whop_api_base, self.whop_emulator)

    @property
    def emulator_enabled(self) -> bool:
        return self.whop_api_base is None

    @property
    def api_base(self) -> str:
        return self.whop_api_base or f"{self.app_url}/_whop/api/v1"

    @property
    def oauth_base(self) -> str:
        if self.whop_oauth_base:
            return self.whop_oauth_base
        return f"{self.app_url}/_whop/oauth"

    @property
    def oauth_authority(self) -> str:
        """Where Whop's discovery document lives: above `/oauth`, which at Whop is the API
        origin (`https://api.whop.com`) and at an emulator its mount (`…/_whop`)."""
        if self.whop_oauth_base:
            if self.whop_oauth_base.endswith("/oauth"):
                return self.whop_oauth_base.removesuffix("/oauth")
            parts = urlsplit(self.whop_oauth_base)
            return f"{parts.scheme}://{parts.netloc}"
        return f"{self.app_url}/_whop"

    @property
    def oauth_issuer(self) -> str:
        """The issuer sign-in expects: WHOP_OAUTH_ISSUER, else the authority itself."""
        return self.whop_oauth_issuer or self.oauth_authority

    @property
    def redirect_uri(self) -> str:
        return f"{self.app_url}/auth/callback"

    @property
    def secure_cookies(self) -> bool:
        return self.app_url.startswith("https://")

    @property
    def loopback(self) -> bool:
        """APP_URL names this machine, so nobody else can reach the app through it."""
        return loopback_url(self.app_url)


def loopback_url(url: str) -> bool:
    """Whether `url`'s host is `localhost` or a loopback address (127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


WHOP_SETTINGS = (
    "WHOP_API_BASE, WHOP_OAUTH_BASE, WHOP_API_KEY, WHOP_CLIENT_ID, WHOP_CLIENT_SECRET, "
    "WHOP_PARENT_COMPANY_ID and WHOP_WEBHOOK_SECRET"
)


def refuse_exposed_emulator(app_url: str, whop_api_base: str | None, opt_in: bool) -> None:
    """The emulator's consent page signs anyone in as any user it lists: it may answer a
    public APP_URL only when the operator says so."""
    if whop_api_base is None and not opt_in and not loopback_url(app_url):
        raise SettingsError(
            "WHOP_API_BASE",
            f"is not set, so Linkmint would serve its Whop emulator at {app_url}/_whop, where "
            f"anyone can sign in as any user. To use Whop, set {WHOP_SETTINGS} from Whop's "
            "developer dashboard; to expose the emulator on purpose (a demo), set WHOP_EMULATOR=1",
        )


def _clean(raw: Mapping[str, str | None]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in KNOWN_NAMES:
        value = raw.get(name)
        if value is None:
            continue
        value = value.strip()  # a trailing newline in a secret silently breaks every HMAC
        if value:
            out[name] = value
    return out


def _dev_credentials(var_dir: Path) -> dict[str, str]:
    """Credentials for the emulator, generated on first use and kept under VAR_DIR.

    The file is born private (created with mode 0600, never written and then narrowed) and
    appears whole or not at all; when processes start together, the first file made wins
    and the others read it, so every process holds the same secrets."""
    path = var_dir / "dev-credentials.json"
    if path.exists():
        return _credentials(path)
    creds = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "WHOP_API_KEY": "apik_" + secrets.token_urlsafe(32),
        "WHOP_CLIENT_ID": whop_id("app_"),
        "WHOP_CLIENT_SECRET": secrets.token_urlsafe(32),
        "WHOP_PARENT_COMPANY_ID": whop_id("biz_"),
        "WHOP_WEBHOOK_SECRET": "ws_" + secrets.token_hex(32),
    }
    var_dir.mkdir(parents=True, exist_ok=True)
    tmp = var_dir / f".dev-credentials.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(creds, indent=2))
        try:
            os.link(tmp, path)  # fails if another process made the file first
        except FileExistsError:
            return _credentials(path)
    finally:
        tmp.unlink(missing_ok=True)
    return creds


def _check_url(name: str, value: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise SettingsError(name, f"must be an absolute {' or '.join(schemes)} URL, got {value!r}")
    if parts.query or parts.fragment:
        raise SettingsError(name, "must not carry a query string or fragment")
    return value.rstrip("/")


def settings_from(raw: Mapping[str, str | None]) -> Settings:
    """Validate a mapping of variables (the environment, or a test's own) into Settings."""
    env = _clean(raw)
    var_dir = Path(env.get("VAR_DIR", "var")).resolve()  # relative: to the working directory
    app_url = _check_url("APP_URL", env.get("APP_URL", "http://127.0.0.1:8000"))
    api_base = env.get("WHOP_API_BASE")
    if api_base is not None:
        api_base = _check_url("WHOP_API_BASE", api_base)
    oauth_base = env.get("WHOP_OAUTH_BASE")
    if oauth_base is not None:
        oauth_base = _check_url("WHOP_OAUTH_BASE", oauth_base)
    if api_base is None and oauth_base is not None:
        raise SettingsError("WHOP_OAUTH_BASE", "is set but WHOP_API_BASE is not; set both or none")
    if api_base is not None and oauth_base is None:
        raise SettingsError("WHOP_OAUTH_BASE", "is required when WHOP_API_BASE points at Whop")
    oauth_issuer = env.get("WHOP_OAUTH_ISSUER")
    if oauth_issuer is not None:
        _check_url("WHOP_OAUTH_ISSUER", oauth_issuer)  # kept exactly: issuers compare exactly
    whop_emulator = _flag(env, "WHOP_EMULATOR")
    refuse_exposed_emulator(app_url, api_base, whop_emulator)  # before generating credentials

    generated_names = (
        "SECRET_KEY",
        "WHOP_API_KEY",
        "WHOP_CLIENT_ID",
        "WHOP_CLIENT_SECRET",
        "WHOP_PARENT_COMPANY_ID",
        "WHOP_WEBHOOK_SECRET",
    )
    if api_base is None and any(n not in env for n in generated_names):
        for name, value in _dev_credentials(var_dir).items():
            env.setdefault(name, value)
    for name in generated_names:
        if name not in env:
            raise SettingsError(name, "is required when WHOP_API_BASE points at Whop")

    database_url = _database_url(env, "DATABASE_URL")
    direct_url = _database_url(env, "DATABASE_DIRECT_URL")
    replica_url = _database_url(env, "DATABASE_REPLICA_URL")
    pooler = env.get("DATABASE_POOLER", "none").lower()
    if pooler not in POOLERS:
        raise SettingsError("DATABASE_POOLER", f"must be {' or '.join(POOLERS)}, got {pooler!r}")
    for name, url in (("DATABASE_DIRECT_URL", direct_url), ("DATABASE_REPLICA_URL", replica_url)):
        if url is not None and database_url is None:
            raise SettingsError(name, "is set but DATABASE_URL is not; set DATABASE_URL too")
    if pooler != "none" and direct_url is None:
        raise SettingsError(
            "DATABASE_DIRECT_URL",
            f"is required with DATABASE_POOLER={pooler}: the cache listener's LISTEN, the "
            "background passes' session locks and migrations cannot go through transaction "
            "pooling; set it to PostgreSQL itself (not the pooler)",
        )

    if len(env["SECRET_KEY"]) < 32:
        raise SettingsError("SECRET_KEY", "must be at least 32 characters")
    if not env["WHOP_PARENT_COMPANY_ID"].startswith("biz_"):
        raise SettingsError("WHOP_PARENT_COMPANY_ID", "must be a company id starting with biz_")
    if not env["WHOP_CLIENT_ID"].startswith("app_"):
        raise SettingsError("WHOP_CLIENT_ID", "must be an OAuth app id starting with app_")

    elements_env = env.get("WHOP_ELEMENTS_ENV", "sandbox")
    if elements_env not in ("production", "sandbox"):
        raise SettingsError("WHOP_ELEMENTS_ENV", "must be 'production' or 'sandbox'")
    try:
        pool = int(env.get("DB_POOL_SIZE", "10"))
    except ValueError:
        raise SettingsError("DB_POOL_SIZE", "must be a whole number") from None
    if not 0 <= pool <= 200:
        raise SettingsError("DB_POOL_SIZE", "must be between 0 and 200")
    try:
        inbox_workers = int(env.get("INBOX_WORKERS", "2"))
    except ValueError:
        raise SettingsError("INBOX_WORKERS", "must be a whole number") from None
    if not 0 <= inbox_workers <= 64:
        raise SettingsError("INBOX_WORKERS", "must be between 0 and 64")
    inbox: dict[str, Any] = {
        name.lower(): _whole(env, name, default, low, high)
        for name, default, low, high in (
            ("INBOX_BATCH", 100, 1, 1000),
            ("INBOX_WHOP_READS", 4, 1, 1000),
            ("WHOP_EMULATOR_LATENCY_MS", 0, 0, 10_000),
            ("WHOP_EMULATOR_RATE_LIMIT", 0, 0, 1_000_000),
        )
    }
    # Each set goes to Settings by name: typed Any here, checked by the dataclass's fields.
    sweep: dict[str, Any] = {
        name.lower(): _whole(env, name, default, low, high)
        for name, default, low, high in (
            ("WHOP_REFUND_WINDOW_DAYS", 30, 1, 3650),
            ("WHOP_PAGE_SIZE", 100, 1, 1000),
            ("WHOP_LIST_CALLS_PER_MINUTE", 300, 1, 100_000),
            ("RECONCILE_SWEEP_SECONDS", 300, 1, 86_400),
            ("MAINTENANCE_SECONDS", 60, 1, 3600),
        )
    }
    seconds: dict[str, Any] = {
        name.lower(): _seconds(env, name, default, low, high)
        for name, default, low, high in (
            ("DB_CONNECT_TIMEOUT", 3.0, 0.1, 600),
            ("DB_ACQUIRE_TIMEOUT", 3.0, 0.1, 600),
            ("DB_STATEMENT_TIMEOUT", 5.0, 0.1, 3600),
            ("PAGE_CACHE_TTL", 60.0, 1, 86_400),
            ("LOG_REPEAT_WINDOW", 60.0, 1, 86_400),
            ("HTTP_HEADER_TIMEOUT", 10.0, 0.1, 600),
            ("HTTP_BODY_TIMEOUT", 30.0, 0.1, 3600),
            ("HTTP_KEEP_ALIVE_TIMEOUT", 5.0, 0.1, 600),
            ("INSIGHTS_FLUSH_SECONDS", 5.0, 0.05, 3600),
        )
    }
    log_level = env.get("LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError("LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR")
    log_format = env.get("LOG_FORMAT", "text" if loopback_url(app_url) else "json").lower()
    if log_format not in ("json", "text"):
        raise SettingsError("LOG_FORMAT", "must be json or text")

    return Settings(
        app_url=app_url,
        secret_key=env["SECRET_KEY"],
        whop_api_key=env["WHOP_API_KEY"],
        whop_client_id=env["WHOP_CLIENT_ID"],
        whop_client_secret=env["WHOP_CLIENT_SECRET"],
        whop_parent_company_id=env["WHOP_PARENT_COMPANY_ID"],
        whop_webhook_secret=env["WHOP_WEBHOOK_SECRET"],
        database_url=database_url,
        database_direct_url=direct_url,
        database_replica_url=replica_url,
        database_pooler=pooler,
        whop_api_base=api_base,
        whop_oauth_base=oauth_base,
        whop_oauth_issuer=oauth_issuer,
        whop_elements_env=elements_env,
        whop_emulator=whop_emulator,
        db_pool_size=pool,
        inbox_workers=inbox_workers,
        **inbox,
        var_dir=var_dir,
        log_level=log_level,
        log_format=log_format,
        trusted_proxies=_networks(env, "TRUSTED_PROXIES", "127.0.0.1,::1"),
        http_concurrency_limit=_whole(env, "HTTP_CONCURRENCY_LIMIT", 500, 1, 100_000),
        country_header=_header_name(env, "COUNTRY_HEADER"),
        insights_daily_retention_days=_retention_days(env, "INSIGHTS_DAILY_RETENTION_DAYS"),
        **seconds,
        **sweep,
    )


def _database_url(env: Mapping[str, str], name: str) -> str | None:
    url = env.get(name)
    if url is not None and urlsplit(url).scheme not in ("postgres", "postgresql"):
        raise SettingsError(name, "must be a postgresql:// URL")
    return url


def _header_name(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if value and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", value):
        raise SettingsError(name, "must be an HTTP header name, like CF-IPCountry")
    return value.lower()


def _retention_days(env: Mapping[str, str], name: str) -> int:
    """Days of daily Insights counts to keep: at least the page's longest period (90), or
    the page would show months already folded as days without views."""
    days = _whole(env, name, 90, 1, 36_500)
    if days < 90:
        raise SettingsError(
            name,
            f"must be at least 90 (the Insights page shows up to 90 days of daily figures; "
            f"days older than {days} would be folded into months and missing from it)",
        )
    return days


def _credentials(path: Path) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(path.read_text()).items()}


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(env.get(name, str(default)))
    except ValueError:
        raise SettingsError(name, "must be a whole number") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be between {low} and {high}")
    return value


def _networks(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    """A comma list of addresses and networks (`10.0.0.0/8`), each as a network."""
    networks = []
    for item in env.get(name, default).split(","):
        try:
            networks.append(str(ipaddress.ip_network(item.strip())))
        except ValueError as exc:
            raise SettingsError(name, f"{exc}; give addresses and networks (10.0.0.0/8)") from None
    return tuple(networks)


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "0").lower()
    if value not in ("0", "1", "false", "true", "no", "yes"):
        raise SettingsError(name, "must be 1 or 0")
    return value in ("1", "true", "yes")


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    try:
        value = float(env.get(name, str(default)))
    except ValueError:
        raise SettingsError(name, "must be a number of seconds") from None
    if not low <= value <= high:  # (NaN fails this too)
        raise SettingsError(name, f"must be between {low:g} and {high:g} seconds")
    return value


_loaded: Settings | None = None


def load_settings() -> Settings:
    """The process's settings: the working directory's `.env` first, the real environment
    winning; read once."""
    global _loaded
    if _loaded is None:
        raw: dict[str, str | None] = dict(dotenv_values(Path.cwd() / ".env"))
        raw.update(os.environ)
        _loaded = settings_from(raw)
    return _loaded
