"""The emulator keeps Whop's contract where it is easy to drift: who may use the control API,
what a reused idempotency key answers, which return URLs are accepted, how webhooks are
signed, and that its tables do not grow for ever."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import ast
import secrets
import time
from pathlib import Path

import httpx
import pytest
import standardwebhooks

from app.emulator import delivery, faults, identity, oauth, platform, retention, store
from app.whop.webhooks import WebhookVerificationError, verify_webhook
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    browser,
    checkout,
    connected_company,
    emulator_control,
    eventually,
    hook_for,
    live_settings,
    pay,
    receiver,
)

EMULATOR = Path(__file__).resolve().parents[2] / "app" / "emulator"


def assert_whop_error(response: httpx.Response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"type", "code", "message", "param"}
    assert error["type"] == type_ and error["message"]
    return error


# --- the control API answers the platform's key only ---------------------------------------


def control_client(live_server: str, credential: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    return httpx.AsyncClient(base_url=f"{live_server}/_whop/_control", headers=headers)


CONTROL_CALLS = [
    ("GET", "/faults", None),
    ("POST", "/faults", {"kind": "drop_redirect"}),
    ("DELETE", "/faults", None),
    ("GET", "/settings", None),
    ("PUT", "/settings", {"time_scale": 0.5}),
    ("DELETE", "/settings", None),
    ("GET", "/events", None),
    ("POST", "/events/evt_Whatever000001/redeliver", {"times": 1}),
    ("GET", "/deliveries", None),
]


async def another_companys_key() -> str:
    """An API key of a company that is not the platform (one Whop would issue to it)."""
    key = "apik_other_" + secrets.token_hex(8)
    async with store.transaction() as conn:
        await conn.execute(
            "INSERT INTO whop_emulator.company (id, title, payout_account_id)"
            " VALUES ('biz_OtherPlatform2', 'Other', 'poact_OtherPlatform2')"
            " ON CONFLICT DO NOTHING"
        )
        await conn.execute(
            "INSERT INTO whop_emulator.api_key (key_hash, company_id)"
            " VALUES ($1, 'biz_OtherPlatform2')",
            store.secret_hash(key),
        )
    return key


async def test_the_platform_key_uses_the_control_api(live_server, live_settings, emulator_control):
    async with control_client(live_server, live_settings.whop_api_key) as control:
        armed = await control.post("/faults", json={"kind": "drop_redirect"})
        listed = await control.get("/faults")
    assert armed.status_code == 200, armed.text
    assert [f["kind"] for f in listed.json()] == ["drop_redirect"]


@pytest.mark.parametrize("method,path,body", CONTROL_CALLS)
async def test_a_connected_companys_access_token_is_refused_by_the_control_api(
    api, live_server, live_settings, emulator_control, method, path, body
):
    company = await connected_company(api, live_settings)
    minted = await api.post("/access_tokens", json={"company_id": company["id"]})
    token = minted.json()["token"]
    async with control_client(live_server, token) as control:
        r = await control.request(method, path, json=body)
    assert_whop_error(r, 403, "forbidden")
    assert "platform's API key" in r.json()["error"]["message"]
    assert await faults.list_faults() == []
    async with store.connection() as conn:
        assert (await faults.control_settings(conn)).time_scale == 0.01  # as the fixture set


@pytest.mark.parametrize("method,path,body", CONTROL_CALLS)
async def test_another_companys_api_key_is_refused_by_the_control_api(
    live_server, live_settings, emulator_control, method, path, body
):
    key = await another_companys_key()
    async with httpx.AsyncClient(
        base_url=live_settings.api_base, headers={"Authorization": f"Bearer {key}"}
    ) as other:
        own = await other.get("/companies/biz_OtherPlatform2")
    assert own.status_code == 200, own.text  # a good key for the API, just not the platform's
    async with control_client(live_server, key) as control:
        r = await control.request(method, path, json=body)
    assert_whop_error(r, 403, "forbidden")
    assert await faults.list_faults() == []


@pytest.mark.parametrize("credential", [None, "apik_not_a_key", "atk_not_a_token"])
async def test_no_credential_or_an_unknown_one_is_a_401_at_the_control_api(live_server, credential):
    async with control_client(live_server, credential) as control:
        r = await control.get("/events")
    assert_whop_error(r, 401, "unauthorized")


# --- idempotency keys -----------------------------------------------------------------------


async def test_a_reused_idempotency_key_with_another_body_is_a_400(api, live_settings):
    company = await connected_company(api, live_settings)
    key = {"Idempotency-Key": f"reuse-{time.time_ns()}"}
    plan = {"company_id": company["id"], "currency": "usd", "initial_price": 5}
    first = await api.post("/checkout_configurations", json={"plan": plan}, headers=key)
    assert first.status_code == 200, first.text
    changed = {"plan": {**plan, "initial_price": 6}}
    r = await api.post("/checkout_configurations", json=changed, headers=key)
    error = assert_whop_error(r, 400, "bad_request")
    assert error["code"] == "idempotency_key_reused" and error["param"] == "Idempotency-Key"
    assert "already used with a different request" in error["message"]
    elsewhere = await api.post("/access_tokens", json={"company_id": company["id"]}, headers=key)
    assert assert_whop_error(elsewhere, 400, "bad_request")["code"] == "idempotency_key_reused"


# --- return URLs are https, except on a developer's own machine ----------------------------


def account_link_body(company_id: str, **change: str) -> dict:
    return {
        "company_id": company_id,
        "use_case": "account_onboarding",
        "return_url": "https://linkmint.example/return",
        "refresh_url": "https://linkmint.example/refresh",
        **change,
    }


@pytest.mark.parametrize("param", ["return_url", "refresh_url"])
async def test_an_account_link_refuses_a_plain_http_url(api, live_settings, param):
    company = await connected_company(api, live_settings)
    body = account_link_body(company["id"], **{param: "http://linkmint.example/back"})
    r = await api.post("/account_links", json=body)
    error = assert_whop_error(r, 400, "bad_request")
    assert error["param"] == param and error["code"] == "parameter_invalid"
    assert f"Invalid parameter {param}: must be an https URL" in error["message"]


async def test_a_checkout_configuration_refuses_a_plain_http_redirect_url(api, live_settings):
    company = await connected_company(api, live_settings)
    plan = {"company_id": company["id"], "currency": "usd", "initial_price": 5}
    r = await api.post(
        "/checkout_configurations",
        json={"plan": plan, "redirect_url": "http://linkmint.example/checkout/confirm"},
    )
    error = assert_whop_error(r, 400, "bad_request")
    assert error["param"] == "redirect_url"
    assert "must be an https URL" in error["message"]
    async with store.connection() as conn:
        plans = await conn.fetchval(
            "SELECT count(*) FROM whop_emulator.plan WHERE company_id = $1", company["id"]
        )
    assert plans == 0  # the inline plan went with the refusal


@pytest.mark.parametrize(
    "url",
    [
        "https://linkmint.example/back?x=1",
        "http://localhost:8000/back",
        "http://127.0.0.1:8000/back",
        "http://127.9.8.7/back",
        "http://[::1]:8000/back",
    ],
)
async def test_https_and_loopback_http_urls_are_accepted(api, live_settings, url):
    company = await connected_company(api, live_settings)
    link = await api.post(
        "/account_links", json=account_link_body(company["id"], return_url=url, refresh_url=url)
    )
    assert link.status_code == 200, link.text
    config = await checkout(api, company["id"], fee=None, redirect_url=url)
    assert config["redirect_url"] == url


async def test_the_emulators_own_http_origin_is_accepted_and_no_other(client, settings):
    """Under the test client the emulator answers at APP_URL, a plain-http name."""
    assert settings.app_url.startswith("http://") and "127.0.0.1" not in settings.app_url
    auth = {"Authorization": f"Bearer {settings.whop_api_key}"}
    company = await client.post(
        "/_whop/api/v1/companies",
        json={
            "title": "Own origin",
            "email": "own@example.com",
            "parent_company_id": settings.whop_parent_company_id,
        },
        headers=auth,
    )
    plan = {"company_id": company.json()["id"], "currency": "usd", "initial_price": 3}
    answers = {}
    for url in (f"{settings.app_url}/checkout/confirm", "http://elsewhere.example/confirm"):
        r = await client.post(
            "/_whop/api/v1/checkout_configurations",
            json={"plan": plan, "redirect_url": url},
            headers=auth,
        )
        answers[url] = r.status_code
    assert list(answers.values()) == [200, 400]


# --- webhooks are signed with the reference library, keyed Whop's way ----------------------

WS_SECRET = "ws_" + "a1b2c3d4" * 8
# Valid base64 after the prefix: a signer that base64-decoded it would key differently.
WHSEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize("secret", [WS_SECRET, WHSEC_SECRET])
def test_the_emulators_signature_verifies_with_the_apps_verifier(secret):
    body = b'{"id":"evt_1","type":"payment.succeeded","data":{"note":"caf\xc3\xa9"}}'
    stamp = int(time.time())
    headers = delivery.signed_headers(secret, "evt_1", body, stamp)
    assert headers["webhook-id"] == "evt_1" and headers["webhook-timestamp"] == str(stamp)
    assert verify_webhook(secret, headers, body).webhook_id == "evt_1"
    # The same thing the reference library checks when keyed with the secret's own bytes.
    assert standardwebhooks.Webhook(secret.encode()).verify(body, headers)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body.replace(b"evt_1", b"evt_2"))


async def test_deliveries_verify_with_the_apps_verifier_for_ws_and_whsec_secrets(
    api, browser, live_settings, receiver, emulator_control
):
    company = await connected_company(api, live_settings)
    ws = await hook_for(receiver, api, company["id"], events=["payment.succeeded"])
    whsec = await hook_for(receiver, api, company["id"], events=["payment.succeeded"])
    async with store.transaction() as conn:  # as if Whop had shown this one as whsec_…
        await conn.execute(
            "UPDATE whop_emulator.webhook SET secret = $2 WHERE id = $1",
            whsec["id"],
            WHSEC_SECRET,
        )
    config = await checkout(api, company["id"])
    paid = await pay(browser, config["purchase_url"])
    assert paid.status_code == 303, paid.text

    await eventually(lambda: len(receiver.requests) == 2)
    verified: dict[str, str] = {}
    for sent in receiver.requests:
        for secret in (ws["webhook_secret"], WHSEC_SECRET):
            try:
                event = verify_webhook(secret, sent.headers, sent.body)
            except WebhookVerificationError:
                continue
            assert event.type == "payment.succeeded"
            verified[secret] = event.webhook_id
    assert set(verified) == {ws["webhook_secret"], WHSEC_SECRET}
    assert len(set(verified.values())) == 1  # one event, one webhook-id, two endpoints


def test_the_emulator_does_not_import_the_apps_webhook_code():
    offenders = []
    for path in sorted(EMULATOR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                names.append(node.module or "")
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(n == "app.whop.webhooks" or n.startswith("app.whop.webhooks.") for n in names):
                offenders.append(path.name)
    assert offenders == []
    assert "standardwebhooks" in (EMULATOR / "delivery.py").read_text()


# --- retention ------------------------------------------------------------------------------


async def backdated_event(conn, age: str, *deliveries: tuple[str, str]) -> tuple[str, list[int]]:
    """An event `age` old (an interval) with deliveries of (status, last change's age)."""
    event_id = "evt_" + secrets.token_hex(7)
    await conn.execute(
        "INSERT INTO whop_emulator.event (id, type, body, created_at)"
        " VALUES ($1, 'payment.succeeded', '{}', now() - $2::text::interval)",
        event_id,
        age,
    )
    ids = []
    for status, changed in deliveries:
        delivery_id = await conn.fetchval(
            """
            INSERT INTO whop_emulator.delivery
                (event_id, url, secret, status, attempts, created_at, updated_at)
            VALUES ($1, 'https://hooks.example/x', 'ws_x', $2, 1, now() - $3::text::interval,
                    now() - $4::text::interval)
            RETURNING id
            """,
            event_id,
            status,
            age,
            changed,
        )
        await conn.execute(
            "INSERT INTO whop_emulator.delivery_attempt"
            " (delivery_id, attempt, outcome, webhook_timestamp, at)"
            " VALUES ($1, 1, 'rejected', 0, now() - $2::text::interval)",
            delivery_id,
            changed,
        )
        ids.append(delivery_id)
    return event_id, ids


async def exists(conn, table: str, column: str, value) -> bool:
    return await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM whop_emulator.{table} WHERE {column} = $1)",  # noqa: S608
        value,
    )


async def test_old_events_and_finished_deliveries_go_and_the_rest_stays(settings):
    async with store.transaction() as conn:
        old_done, old_done_ids = await backdated_event(
            conn, "40 days", ("succeeded", "40 days"), ("failed", "31 days")
        )
        old_open, old_open_ids = await backdated_event(
            conn, "40 days", ("pending", "40 days"), ("held", "40 days"), ("succeeded", "40 days")
        )
        old_retried, recent_ids = await backdated_event(conn, "40 days", ("failed", "2 days"))
        old_unsent, _ = await backdated_event(conn, "31 days")
        recent, recent_done_ids = await backdated_event(conn, "1 day", ("succeeded", "1 day"))
        now = await conn.fetchval("SELECT now()")
        gone = await retention.prune(conn, now)

        assert gone["event"] >= 2 and gone["delivery"] >= 3 and gone["delivery_attempt"] >= 3
        for event_id in (old_done, old_unsent):
            assert not await exists(conn, "event", "id", event_id)
        for event_id in (old_open, old_retried, recent):
            assert await exists(conn, "event", "id", event_id)
        for delivery_id in (*old_done_ids, old_open_ids[2]):
            assert not await exists(conn, "delivery", "id", delivery_id)
            assert not await exists(conn, "delivery_attempt", "delivery_id", delivery_id)
        for delivery_id in (*old_open_ids[:2], *recent_ids, *recent_done_ids):
            assert await exists(conn, "delivery", "id", delivery_id)
            assert await exists(conn, "delivery_attempt", "delivery_id", delivery_id)


async def test_idempotency_keys_go_after_a_day(settings):
    owner = "owner-" + secrets.token_hex(6)
    async with store.transaction() as conn:
        for key, age in (("old", "25 hours"), ("fresh", "23 hours")):
            await conn.execute(
                "INSERT INTO whop_emulator.idempotency_key"
                " (owner, key, method, path, fingerprint, status, body, created_at)"
                " VALUES ($1, $2, 'POST', '/api/v1/x', 'f', 200, '{}', now() - $3::text::interval)",
                owner,
                key,
                age,
            )
        gone = await retention.prune(conn, await conn.fetchval("SELECT now()"))
        kept = await conn.fetch(
            "SELECT key FROM whop_emulator.idempotency_key WHERE owner = $1", owner
        )
    assert gone["idempotency_key"] >= 1
    assert [r["key"] for r in kept] == ["fresh"]


async def test_long_expired_codes_tokens_links_and_spent_faults_go(settings):
    await platform.bootstrap(settings)
    await oauth.bootstrap(settings)
    tag = secrets.token_hex(4)
    user = await identity.create_user("Old Timer", f"old_{tag}", f"old_{tag}@example.com")
    grant = {"client_id": settings.whop_client_id, "user_id": user["id"], "scope": "openid"}
    await identity.issue_code(
        **grant, redirect_uri=settings.redirect_uri, nonce=None, code_challenge="c" * 43
    )
    await identity.issue_tokens(grant_id=f"old-{tag}", **grant)
    await identity.issue_tokens(grant_id=f"new-{tag}", **grant)
    company = settings.whop_parent_company_id
    async with store.transaction() as conn:
        await conn.execute(
            "UPDATE whop_emulator.oauth_code SET expires_at = now() - interval '2 days'"
            " WHERE user_id = $1",
            user["id"],
        )
        await conn.execute(
            "UPDATE whop_emulator.oauth_token SET expires_at = now() - interval '2 days'"
            " WHERE grant_id = $1",
            f"old-{tag}",
        )
        for token, expired in ((f"old-{tag}", "2 days"), (f"new-{tag}", "1 hour")):
            await conn.execute(
                "INSERT INTO whop_emulator.access_token (token_hash, company_id, expires_at)"
                " VALUES ($1, $2, now() - $3::text::interval)",
                store.secret_hash(token),
                company,
                expired,
            )
        for token, expired in ((f"old-{tag}", "31 days"), (f"new-{tag}", "29 days")):
            await conn.execute(
                "INSERT INTO whop_emulator.account_link"
                " (token, company_id, use_case, return_url, refresh_url, expires_at)"
                " VALUES ($1, $2, 'account_onboarding', 'https://a.example', 'https://b.example',"
                "         now() - $3::text::interval)",
                token,
                company,
                expired,
            )
        faults_made = {}
        for name, remaining, age in (("spent", 0, "31 days"), ("armed", 1, "31 days")):
            faults_made[name] = await conn.fetchval(
                "INSERT INTO whop_emulator.fault (kind, remaining, created_at)"
                " VALUES ('drop_redirect', $1, now() - $2::text::interval) RETURNING id",
                remaining,
                age,
            )
        gone = await retention.prune(conn, await conn.fetchval("SELECT now()"))

        assert not await exists(conn, "oauth_code", "user_id", user["id"])
        assert not await exists(conn, "oauth_token", "grant_id", f"old-{tag}")
        assert await exists(conn, "oauth_token", "grant_id", f"new-{tag}")
        old_token, new_token = store.secret_hash(f"old-{tag}"), store.secret_hash(f"new-{tag}")
        assert not await exists(conn, "access_token", "token_hash", old_token)
        assert await exists(conn, "access_token", "token_hash", new_token)
        assert not await exists(conn, "account_link", "token", f"old-{tag}")
        assert await exists(conn, "account_link", "token", f"new-{tag}")
        assert not await exists(conn, "fault", "id", faults_made["spent"])
        assert await exists(conn, "fault", "id", faults_made["armed"])
        await conn.execute("DELETE FROM whop_emulator.fault WHERE id = $1", faults_made["armed"])
    for table in ("oauth_code", "oauth_token", "access_token", "account_link", "fault"):
        assert gone[table] >= 1, table


async def old_idempotency_key() -> tuple[str, str]:
    owner, key = "owner-" + secrets.token_hex(6), "k"
    async with store.transaction() as conn:
        await conn.execute(
            "INSERT INTO whop_emulator.idempotency_key"
            " (owner, key, method, path, fingerprint, created_at)"
            " VALUES ($1, $2, 'POST', '/x', 'f', now() - interval '2 days')",
            owner,
            key,
        )
    return owner, key


async def still_there(owner: str) -> bool:
    async with store.connection() as conn:
        return await exists(conn, "idempotency_key", "owner", owner)


async def test_one_process_prunes_at_a_time(settings):
    owner, _ = await old_idempotency_key()
    async with store.connection() as holder:
        await holder.execute("SELECT pg_advisory_lock($1)", retention.PRUNE_LOCK)
        try:
            assert await retention.prune_now() is None  # another process is at it
        finally:
            await holder.execute("SELECT pg_advisory_unlock($1)", retention.PRUNE_LOCK)
    assert await still_there(owner)
    gone = await retention.prune_now()
    assert gone is not None and gone["idempotency_key"] >= 1
    assert not await still_there(owner)


async def test_the_running_emulator_prunes_on_its_own(settings):
    owner, _ = await old_idempotency_key()

    async def pruned() -> bool:
        return not await still_there(owner)

    async with platform.running(settings):
        await eventually(pruned)
