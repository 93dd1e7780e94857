"""The skeleton: probes, security headers on every kind of response, settings validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.config import SettingsError, settings_from
from app.db.tables import Creator

STRICT_PARTS = (
    "default-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
)


async def test_healthz_answers_while_the_process_is_up(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.text == "ok\n"


async def test_readyz_answers_when_the_database_is_reachable(client):
    r = await client.get("/readyz")
    assert r.status_code == 200


@pytest.mark.parametrize(
    "path,status",
    [
        ("/", 200),
        ("/healthz", 200),
        ("/static/css/app.css", 200),
        ("/static/vendor/htmx-2.0.11.min.js", 200),
        ("/static/nope.css", 404),
        ("/dashboard/nope/nope/nope", 404),
    ],
)
async def test_every_response_carries_the_security_headers(client, path, status):
    r = await client.get(path)
    assert r.status_code == status
    csp = r.headers["content-security-policy"]
    for part in STRICT_PARTS:
        assert part in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"]
    assert r.headers["x-frame-options"] == "DENY"


async def test_unsafe_method_without_csrf_token_is_refused(client):
    del client.headers["x-csrftoken"]
    r = await client.post("/auth/logout")
    assert r.status_code == 403
    assert "content-security-policy" in r.headers


async def test_csrf_cookie_is_httponly_and_lax(app, settings):
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app, base_url=settings.app_url) as fresh:
        r = await fresh.get("/")
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie


BASE = {
    "SECRET_KEY": "k" * 40,
    "WHOP_API_KEY": "apik_x",
    "WHOP_CLIENT_ID": "app_x",
    "WHOP_CLIENT_SECRET": "s",
    "WHOP_PARENT_COMPANY_ID": "biz_x",
    "WHOP_WEBHOOK_SECRET": "ws_x",
}


def test_secrets_are_stripped_of_surrounding_whitespace(tmp_path):
    s = settings_from({**BASE, "WHOP_WEBHOOK_SECRET": "  ws_abc\n", "VAR_DIR": str(tmp_path)})
    assert s.whop_webhook_secret == "ws_abc"


@pytest.mark.parametrize(
    "name,value",
    [
        ("APP_URL", "ftp://example.com"),
        ("APP_URL", "not a url"),
        ("DATABASE_URL", "mysql://localhost/x"),
        ("SECRET_KEY", "short"),
        ("WHOP_OAUTH_ISSUER", "api.whop.com"),
        ("WHOP_OAUTH_ISSUER", "https://api.whop.com/?x=1"),
        ("WHOP_PARENT_COMPANY_ID", "company_1"),
        ("WHOP_ELEMENTS_ENV", "staging"),
        ("DB_POOL_SIZE", "many"),
        ("INBOX_WORKERS", "some"),
        ("INBOX_WORKERS", "100"),
        ("DB_CONNECT_TIMEOUT", "soon"),
        ("DB_ACQUIRE_TIMEOUT", "0"),
        ("DB_STATEMENT_TIMEOUT", "nan"),
        ("PAGE_CACHE_TTL", "-1"),
        ("LOG_REPEAT_WINDOW", "1e9"),
        ("WHOP_REFUND_WINDOW_DAYS", "0"),
        ("WHOP_PAGE_SIZE", "lots"),
        ("WHOP_PAGE_SIZE", "5000"),
        ("WHOP_LIST_CALLS_PER_MINUTE", "-1"),
        ("RECONCILE_SWEEP_SECONDS", "0"),
        ("MAINTENANCE_SECONDS", "1.5"),
        ("TRUSTED_PROXIES", "nginx"),
        ("TRUSTED_PROXIES", "10.0.0.1/8"),
        ("HTTP_HEADER_TIMEOUT", "0"),
        ("HTTP_BODY_TIMEOUT", "forever"),
        ("HTTP_KEEP_ALIVE_TIMEOUT", "-5"),
        ("HTTP_CONCURRENCY_LIMIT", "0"),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(tmp_path, name, value):
    with pytest.raises(SettingsError) as err:
        settings_from({**BASE, name: value, "VAR_DIR": str(tmp_path)})
    assert str(err.value).startswith(name)


def test_the_reconcilers_settings_shape_its_pass(tmp_path):
    from app.payments.reconcile import SweepOptions

    env = {
        **BASE,
        "VAR_DIR": str(tmp_path),
        "WHOP_REFUND_WINDOW_DAYS": "60",
        "WHOP_PAGE_SIZE": "50",
        "WHOP_LIST_CALLS_PER_MINUTE": "120",
        "RECONCILE_SWEEP_SECONDS": "600",
        "MAINTENANCE_SECONDS": "30",
    }
    settings = settings_from(env)
    options = SweepOptions.from_settings(settings)
    assert options.calls_per_minute == 120 and options.calls is None  # paced by the clock
    assert options.every.total_seconds() == 600 and options.refund_window.days == 60
    assert settings.whop_page_size == 50 and settings.maintenance_seconds == 30


def test_database_timeouts_reach_every_connection_the_engine_opens(tmp_path):
    from app.db.engine import make_engine

    env = {
        **BASE,
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "DB_CONNECT_TIMEOUT": "2",
        "DB_ACQUIRE_TIMEOUT": "1.5",
        "DB_STATEMENT_TIMEOUT": "4",
    }
    engine = make_engine(settings_from(env))
    assert engine.config["timeout"] == 2.0 and engine.acquire_timeout == 1.5
    assert engine.config["server_settings"] == {"statement_timeout": "4000"}
    assert engine.config["command_timeout"] == 5.0  # the client gives up a second later


async def test_queries_run_under_the_statement_timeout():
    from piccolo.engine import engine_finder

    rows = await Creator.raw("SHOW statement_timeout")  # a connection per query here
    assert rows == [{"statement_timeout": "5s"}]
    async with engine_finder().transaction():
        assert (await Creator.raw("SHOW statement_timeout"))[0]["statement_timeout"] == "5s"


def test_real_whop_needs_every_credential(tmp_path):
    env = {
        "WHOP_API_BASE": "https://api.whop.com/api/v1",
        "WHOP_OAUTH_BASE": "https://api.whop.com/oauth",
        "VAR_DIR": str(tmp_path),
    }
    with pytest.raises(SettingsError) as err:
        settings_from(env)
    assert "required" in str(err.value)
    assert not (tmp_path / "dev-credentials.json").exists()


def test_dev_credentials_are_generated_once_and_reused(tmp_path):
    first = settings_from({"VAR_DIR": str(tmp_path)})
    second = settings_from({"VAR_DIR": str(tmp_path)})
    assert first.whop_api_key == second.whop_api_key
    assert first.whop_webhook_secret.startswith("ws_")
    assert first.whop_parent_company_id.startswith("biz_")
    override = settings_from({"VAR_DIR": str(tmp_path), "WHOP_API_KEY": "apik_mine"})
    assert override.whop_api_key == "apik_mine"
    assert override.secret_key == first.secret_key


async def test_against_whop_forms_may_lead_to_whops_hosted_pages(settings):
    """Enable earnings and Unlock answer a plain form POST with a redirect to whop.com."""
    import dataclasses

    from litestar.testing import AsyncTestClient

    from app.main import create_app

    production = dataclasses.replace(
        settings,
        whop_api_base="https://api.whop.com/api/v1",
        whop_oauth_base="https://api.whop.com/oauth",
    )
    async with AsyncTestClient(create_app(production), base_url=settings.app_url) as client:
        r = await client.get("/")
    assert (
        "form-action 'self' https://whop.com https://*.whop.com"
        in r.headers["content-security-policy"]
    )


async def test_offline_forms_stay_on_our_origin(client):
    r = await client.get("/")
    csp = r.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["form-action"] == "'self'"


def test_dev_credentials_are_private_from_the_moment_they_exist(tmp_path, monkeypatch):
    """Created 0600 even under a permissive umask, with no chmod afterwards (a file written
    first and narrowed later is readable by anyone for a moment)."""

    def no_chmod(*args, **kwargs):
        raise AssertionError("the credentials file was chmod-ed after it was written")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    old = os.umask(0)
    try:
        settings_from({"VAR_DIR": str(tmp_path)})
    finally:
        os.umask(old)
    assert (tmp_path / "dev-credentials.json").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["dev-credentials.json"]  # no temp left


def test_processes_starting_together_share_one_set_of_dev_credentials(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        keys = list(
            pool.map(lambda _: settings_from({"VAR_DIR": str(tmp_path)}).whop_api_key, range(16))
        )
    assert len(set(keys)) == 1
    assert settings_from({"VAR_DIR": str(tmp_path)}).whop_api_key == keys[0]
