"""The Whop emulator's OAuth 2.1 / OpenID Connect contract (docs/whop-contract.md §1), over HTTP.

These drive the emulator alone, in process: the authorize page as a person would use it,
then the token, userinfo and revoke endpoints as a client would call them.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from app.emulator import identity, oauth
from app.emulator.identity import AuthorizationCode, OAuthClient, WhopUser
from tests.support.whop_browser import (
    authorize_url,
    new_test_user,
    open_authorize_page,
    pkce_pair,
    query_of,
    read_forms,
)

TOKEN = "/_whop/oauth/token"


@dataclasses.dataclass
class Grant:
    code: str
    verifier: str
    state: str
    nonce: str
    user: dict


async def approved_code(client, settings, *, scope="openid profile email", nonce=None) -> Grant:
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(8), nonce or secrets.token_urlsafe(8)
    url = authorize_url(settings, scope=scope, state=state, nonce=nonce, code_challenge=challenge)
    page = await open_authorize_page(client, url)
    user = new_test_user()
    response = await page.approve_new_user(**user)
    assert response.status_code == 302
    back = query_of(response.headers["location"])
    assert back["state"] == state
    return Grant(back["code"], verifier, state, nonce, user)


def code_body(settings, grant: Grant, **overrides) -> dict:
    body = {
        "grant_type": "authorization_code",
        "code": grant.code,
        "redirect_uri": settings.redirect_uri,
        "client_id": settings.whop_client_id,
        "code_verifier": grant.verifier,
        **overrides,
    }
    return {k: v for k, v in body.items() if v is not None}


async def tokens_for(client, settings, **kwargs) -> dict:
    grant = await approved_code(client, settings, **kwargs)
    response = await client.post(TOKEN, json=code_body(settings, grant))
    assert response.status_code == 200, response.text
    return response.json()


def basic(client_id: str, secret: str) -> dict:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def oauth_error(response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert response.headers["cache-control"] == "no-store"
    return body["error_description"]


# --- discovery and keys ---------------------------------------------------------------


async def test_discovery_names_the_issuer_and_every_endpoint(client, settings):
    r = await client.get("/_whop/.well-known/openid-configuration")
    assert r.status_code == 200
    doc = r.json()
    assert doc["issuer"] == settings.oauth_issuer == f"{settings.app_url}/_whop"
    assert doc["authorization_endpoint"] == f"{settings.oauth_base}/authorize"
    assert doc["token_endpoint"] == f"{settings.oauth_base}/token"
    assert doc["userinfo_endpoint"] == f"{settings.oauth_base}/userinfo"
    assert doc["jwks_uri"] == f"{settings.oauth_issuer}/.well-known/jwks.json"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
    assert "client_secret_basic" in doc["token_endpoint_auth_methods_supported"]


async def test_jwks_publishes_the_public_es256_key_only(client):
    r = await client.get("/_whop/.well-known/jwks.json")
    (key,) = r.json()["keys"]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
    assert key["kid"]
    assert "d" not in key  # never the private part


async def test_the_signing_key_is_made_once_and_kept(client):
    first = await identity.ensure_signing_key()
    again = await identity.ensure_signing_key()
    assert first.signing.kid == again.signing.kid
    assert await identity.SigningKey.count() == 1


async def test_bootstrap_adds_redirect_uris_without_replacing_them(settings):
    others = [
        dataclasses.replace(settings, app_url=f"http://127.0.0.{n}:9000") for n in range(2, 7)
    ]
    await asyncio.gather(*(oauth.bootstrap(s) for s in [settings, *others]))  # start-up race
    client = await identity.client_by_id(settings.whop_client_id)
    for s in [settings, *others]:
        assert client["redirect_uris"].count(s.redirect_uri) == 1


# --- the authorize page ---------------------------------------------------------------


async def test_authorize_page_names_the_app_and_offers_to_create_a_user(client, settings):
    page = await open_authorize_page(client, authorize_url(settings))
    assert "Sign in to Linkmint with Whop (emulator)" in page.response.text
    assert "new" in page.accounts
    assert {("decision", "approve"), ("decision", "deny")} <= set(page.form.buttons)
    assert page.response.headers["cache-control"] == "no-store"
    assert "content-security-policy" in page.response.headers


async def test_an_existing_test_user_can_be_chosen(client, settings):
    first = await approved_code(client, settings)
    user_id = (
        await WhopUser.select(WhopUser.id).where(WhopUser.username == first.user["username"])
    )[0]["id"]
    page = await open_authorize_page(client, authorize_url(settings))
    assert user_id in page.accounts
    response = await page.submit("approve", account=user_id)
    assert response.status_code == 302
    code = query_of(response.headers["location"])["code"]
    row = (
        await AuthorizationCode.select()
        .where(AuthorizationCode.code_hash == identity.digest(code))
        .first()
    )
    assert row["user_id"] == user_id


async def test_filled_in_new_user_fields_make_a_new_user_though_an_old_one_is_preselected(
    client, settings
):
    first = await approved_code(client, settings)
    old_id = (
        await WhopUser.select(WhopUser.id).where(WhopUser.username == first.user["username"])
    )[0]["id"]
    page = await open_authorize_page(client, authorize_url(settings))
    assert page.form.checked["account"] == old_id  # the most recent user is pre-selected
    assert "Filling in these fields signs you in as a new test user" in page.response.text

    newcomer = new_test_user()
    response = await page.submit("approve", **newcomer)  # "A new test user" never clicked

    assert response.status_code == 302
    code = query_of(response.headers["location"])["code"]
    row = (
        await AuthorizationCode.select()
        .where(AuthorizationCode.code_hash == identity.digest(code))
        .first()
    )
    created = await WhopUser.select().where(WhopUser.username == newcomer["username"]).first()
    assert created is not None and row["user_id"] == created["id"] != old_id


async def test_half_filled_new_user_fields_are_refused_not_ignored(client, settings):
    await approved_code(client, settings)
    before = await WhopUser.count()
    page = await open_authorize_page(client, authorize_url(settings))
    response = await page.submit("approve", name="Only A Name")
    assert response.status_code == 422
    assert "3–30 characters" in response.text and "Enter an email address" in response.text
    assert read_forms(response.text)[0].checked["account"] == "new"
    assert await WhopUser.count() == before


async def test_new_users_get_whop_shaped_ids(client, settings):
    grant = await approved_code(client, settings)
    user = await WhopUser.select().where(WhopUser.username == grant.user["username"]).first()
    assert user["id"].startswith("user_") and len(user["id"]) == 19 and user["id"][5:].isalnum()


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"client_id": "app_Nobody00000000"}, "No app with client_id"),
        ({"client_id": None}, "names no app"),
        ({"redirect_uri": "https://evil.example/auth/callback"}, "is not registered"),
        ({"redirect_uri": "http://testserver.local/auth/callback/"}, "is not registered"),
        ({"redirect_uri": "http://testserver.local/auth/callback?x=1"}, "is not registered"),
        ({"redirect_uri": "HTTP://testserver.local/auth/callback"}, "is not registered"),
        ({"redirect_uri": None}, "has no redirect_uri"),
    ],
)
async def test_unknown_client_or_redirect_uri_is_shown_here_and_never_redirected(
    client, settings, overrides, message
):
    r = await client.get(authorize_url(settings, **overrides), follow_redirects=False)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert message in r.text


@pytest.mark.parametrize(
    "overrides,error,description",
    [
        ({"code_challenge": None}, "invalid_request", "code_challenge is required"),
        ({"code_challenge_method": "plain"}, "invalid_request", "must be S256"),
        ({"code_challenge_method": None}, "invalid_request", "must be S256"),
        ({"code_challenge": "too-short"}, "invalid_request", "S256 challenge"),
        ({"response_type": "token"}, "unsupported_response_type", "must be code"),
        ({"scope": ""}, "invalid_scope", "scope"),
    ],
)
async def test_bad_authorize_requests_go_back_to_the_app_with_an_error(
    client, settings, overrides, error, description
):
    r = await client.get(
        authorize_url(settings, state="keep-me", **overrides), follow_redirects=False
    )
    assert r.status_code == 302
    location = r.headers["location"]
    assert location.startswith(settings.redirect_uri + "?")
    back = query_of(location)
    assert back["error"] == error
    assert description in back["error_description"]
    assert back["state"] == "keep-me"
    assert "code" not in back


async def test_deny_sends_access_denied_back_with_the_state(client, settings):
    page = await open_authorize_page(client, authorize_url(settings, state="st-1"))
    r = await page.deny()
    assert r.status_code == 302
    back = query_of(r.headers["location"])
    assert (
        back["error"] == "access_denied" and back["error_description"] and back["state"] == "st-1"
    )
    assert "code" not in back


async def test_new_user_form_errors_are_shown_and_nothing_is_created(client, settings):
    before = await WhopUser.count()
    page = await open_authorize_page(client, authorize_url(settings))
    r = await page.submit(
        "approve", account="new", name="", username="No Spaces!", email="not-an-email"
    )
    assert r.status_code == 422
    assert "Enter a name." in r.text
    assert "lower-case letters" in r.text
    assert "Enter an email address" in r.text
    assert 'value="No Spaces!"' not in r.text and 'value="no spaces!"' in r.text  # kept, cleaned
    assert await WhopUser.count() == before


async def test_a_taken_username_is_refused_with_a_clear_message(client, settings):
    grant = await approved_code(client, settings)
    page = await open_authorize_page(client, authorize_url(settings))
    r = await page.approve_new_user(username=grant.user["username"])
    assert r.status_code == 422
    assert "Another test user already has this username." in r.text


async def test_an_approval_posted_from_another_browser_is_refused(client, other_client, settings):
    page = await open_authorize_page(client, authorize_url(settings))
    data = {**page.form.hidden, "account": "new", **new_test_user(), "decision": "approve"}
    r = await other_client.post("/_whop/oauth/authorize", data=data, follow_redirects=False)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "not opened in this browser" in r.text


async def test_an_approval_whose_request_was_altered_is_refused(client, settings):
    page = await open_authorize_page(client, authorize_url(settings, scope="openid"))
    page.form.hidden["scope"] = "openid profile email"
    r = await page.approve_new_user()
    assert r.status_code == 400
    assert "location" not in r.headers


async def test_a_garbled_ticket_is_refused_not_a_crash(client, settings):
    page = await open_authorize_page(client, authorize_url(settings))
    issued, _, _ = page.form.hidden["ticket"].partition(".")
    page.form.hidden["ticket"] = f"{issued}.ünïcode"
    r = await page.approve_new_user()
    assert r.status_code == 400


async def test_an_approval_form_expires(client, settings):
    page = await open_authorize_page(client, authorize_url(settings))
    issued, _, mac = page.form.hidden["ticket"].partition(".")
    page.form.hidden["ticket"] = f"{int(issued) - oauth.TICKET_LIFETIME - 1}.{mac}"
    r = await page.approve_new_user()
    assert r.status_code == 400 and "expired" in r.text


# --- the token endpoint ---------------------------------------------------------------


async def test_code_exchange_with_a_json_body(client, settings):
    grant = await approved_code(client, settings)
    r = await client.post(TOKEN, json=code_body(settings, grant))
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"] and body["id_token"]
    assert r.headers["cache-control"] == "no-store"


async def test_code_exchange_with_a_form_body(client, settings):
    grant = await approved_code(client, settings)
    r = await client.post(TOKEN, data=code_body(settings, grant))
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]


async def test_client_secret_post_is_accepted_when_right(client, settings):
    grant = await approved_code(client, settings)
    body = code_body(settings, grant, client_secret=settings.whop_client_secret)
    assert (await client.post(TOKEN, json=body)).status_code == 200


async def test_client_secret_basic_is_accepted_when_right(client, settings):
    grant = await approved_code(client, settings)
    headers = basic(settings.whop_client_id, settings.whop_client_secret)
    r = await client.post(TOKEN, data=code_body(settings, grant, client_id=None), headers=headers)
    assert r.status_code == 200, r.text


async def test_a_wrong_client_secret_is_invalid_client(client, settings):
    grant = await approved_code(client, settings)
    r = await client.post(TOKEN, json=code_body(settings, grant, client_secret="wrong"))
    oauth_error(r, 401, "invalid_client")
    headers = basic(settings.whop_client_id, "wrong")
    r = await client.post(TOKEN, data=code_body(settings, grant, client_id=None), headers=headers)
    oauth_error(r, 401, "invalid_client")
    assert r.headers["www-authenticate"].startswith("Basic")


async def test_two_client_authentication_methods_at_once_are_refused(client, settings):
    grant = await approved_code(client, settings)
    headers = basic(settings.whop_client_id, settings.whop_client_secret)
    body = code_body(settings, grant, client_secret=settings.whop_client_secret)
    oauth_error(await client.post(TOKEN, data=body, headers=headers), 400, "invalid_request")


async def test_an_unknown_client_is_invalid_client(client, settings):
    grant = await approved_code(client, settings)
    r = await client.post(TOKEN, json=code_body(settings, grant, client_id="app_Nobody00000000"))
    oauth_error(r, 401, "invalid_client")


async def test_a_code_issued_to_another_client_is_refused(client, settings):
    await identity.register_client(
        "app_OtherClient001", "Other", "other-secret", settings.redirect_uri
    )
    grant = await approved_code(client, settings)
    r = await client.post(TOKEN, json=code_body(settings, grant, client_id="app_OtherClient001"))
    assert "another client" in oauth_error(r, 400, "invalid_grant")


async def test_the_pkce_verifier_must_match_the_challenge(client, settings):
    grant = await approved_code(client, settings)
    wrong = pkce_pair()[0]
    r = await client.post(TOKEN, json=code_body(settings, grant, code_verifier=wrong))
    assert "code_verifier does not match" in oauth_error(r, 400, "invalid_grant")


@pytest.mark.parametrize("verifier", [None, "short", "x" * 129, "has spaces " * 5])
async def test_a_missing_or_malformed_verifier_is_invalid_request(client, settings, verifier):
    grant = await approved_code(client, settings)
    r = await client.post(TOKEN, json=code_body(settings, grant, code_verifier=verifier))
    oauth_error(r, 400, "invalid_request")
    # the code was not spent on a malformed request
    assert (await client.post(TOKEN, json=code_body(settings, grant))).status_code == 200


async def test_a_code_is_single_use_and_a_replay_revokes_its_tokens(client, settings):
    grant = await approved_code(client, settings)
    first = await client.post(TOKEN, json=code_body(settings, grant))
    assert first.status_code == 200
    replay = await client.post(TOKEN, json=code_body(settings, grant))
    assert "already been used" in oauth_error(replay, 400, "invalid_grant")
    tokens = first.json()
    userinfo = await client.get(
        "/_whop/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    refresh = await client.post(
        TOKEN,
        json={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": settings.whop_client_id,
        },
    )
    oauth_error(refresh, 400, "invalid_grant")


async def test_concurrent_redemptions_of_one_code_yield_one_token_set(client, settings):
    grant = await approved_code(client, settings)
    results = await asyncio.gather(*(identity.redeem_code(grant.code) for _ in range(8)))
    assert sorted(r.outcome for r in results).count("ok") == 1


async def test_a_code_expires_after_five_minutes(client, settings):
    grant = await approved_code(client, settings)
    row = (
        await AuthorizationCode.select()
        .where(AuthorizationCode.code_hash == identity.digest(grant.code))
        .first()
    )
    assert timedelta(minutes=4) < row["expires_at"] - row["created_at"] <= timedelta(minutes=5)
    await AuthorizationCode.update(
        {AuthorizationCode.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
    ).where(AuthorizationCode.code_hash == identity.digest(grant.code))
    r = await client.post(TOKEN, json=code_body(settings, grant))
    assert "expired" in oauth_error(r, 400, "invalid_grant")


async def test_an_unknown_code_is_invalid_grant(client, settings):
    grant = await approved_code(client, settings)
    r = await client.post(TOKEN, json=code_body(settings, grant, code="not-a-real-code"))
    oauth_error(r, 400, "invalid_grant")


async def test_the_redirect_uri_must_equal_the_one_the_code_was_issued_for(client, settings):
    await identity.register_client(
        settings.whop_client_id,
        "Linkmint",
        settings.whop_client_secret,
        "http://testserver.local/other",
    )
    grant = await approved_code(client, settings)
    r = await client.post(
        TOKEN, json=code_body(settings, grant, redirect_uri="http://testserver.local/other")
    )
    assert "redirect_uri does not match" in oauth_error(r, 400, "invalid_grant")


@pytest.mark.parametrize(
    "body,error",
    [
        ({"grant_type": "password", "username": "u", "password": "p"}, "unsupported_grant_type"),
        ({"code": "x"}, "invalid_request"),
    ],
)
async def test_unsupported_or_missing_grant_types_are_refused(client, settings, body, error):
    r = await client.post(TOKEN, json={**body, "client_id": settings.whop_client_id})
    oauth_error(r, 400, error)


async def test_a_body_that_is_neither_json_nor_form_is_refused(client, settings):
    r = await client.post(TOKEN, content=b"grant_type=x", headers={"content-type": "text/plain"})
    oauth_error(r, 400, "invalid_request")
    r = await client.post(TOKEN, content=b"{not json", headers={"content-type": "application/json"})
    oauth_error(r, 400, "invalid_request")
    r = await client.post(
        TOKEN,
        content=b"code=a&code=b",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    oauth_error(r, 400, "invalid_request")


# --- the id_token ---------------------------------------------------------------------


async def test_the_id_token_verifies_with_the_published_key_and_carries_the_nonce(client, settings):
    grant = await approved_code(client, settings, nonce="the-nonce-123")
    body = (await client.post(TOKEN, json=code_body(settings, grant))).json()
    keys = KeySet.import_key_set((await client.get("/_whop/.well-known/jwks.json")).json())
    token = jwt.decode(body["id_token"], keys, algorithms=["ES256"])
    assert token.header["alg"] == "ES256" and token.header["kid"] == keys.keys[0].kid
    claims = token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": settings.oauth_issuer},
        aud={"essential": True, "value": settings.whop_client_id},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(claims)
    assert claims["nonce"] == "the-nonce-123"
    assert claims["sub"].startswith("user_")
    assert claims["email"] == grant.user["email"] and claims["email_verified"] is True
    assert claims["preferred_username"] == grant.user["username"]
    assert claims["exp"] - claims["iat"] == 3600


async def test_without_openid_there_is_no_id_token(client, settings):
    body = await tokens_for(client, settings, scope="profile email")
    assert "id_token" not in body


# --- userinfo -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope,present,absent",
    [
        ("openid", {"sub"}, {"name", "preferred_username", "picture", "email", "email_verified"}),
        (
            "openid profile",
            {"sub", "name", "preferred_username", "picture"},
            {"email", "email_verified"},
        ),
        (
            "openid email",
            {"sub", "email", "email_verified"},
            {"name", "preferred_username", "picture"},
        ),
        ("openid profile email", {"sub", "name", "preferred_username", "picture", "email"}, set()),
    ],
)
async def test_userinfo_returns_the_fields_the_scopes_grant(
    client, settings, scope, present, absent
):
    body = await tokens_for(client, settings, scope=scope)
    r = await client.get(
        "/_whop/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert r.status_code == 200
    info = r.json()
    assert present <= set(info) and not (absent & set(info))
    assert info["sub"].startswith("user_")


async def test_userinfo_needs_the_openid_scope(client, settings):
    body = await tokens_for(client, settings, scope="profile email")
    r = await client.get(
        "/_whop/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer not-a-token", "Basic abc"])
async def test_userinfo_refuses_a_missing_or_unknown_token(client, header):
    headers = {"Authorization": header} if header else {}
    r = await client.get("/_whop/oauth/userinfo", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


# --- refresh and revoke ----------------------------------------------------------------


def refresh_body(settings, refresh_token: str, **extra) -> dict:
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": settings.whop_client_id,
        **extra,
    }


async def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_grant(client, settings):
    first = await tokens_for(client, settings)
    r = await client.post(TOKEN, data=refresh_body(settings, first["refresh_token"]))
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["id_token"]
    # the old refresh token is spent; presenting it again is a leak and ends the grant
    reuse = await client.post(TOKEN, json=refresh_body(settings, first["refresh_token"]))
    assert "already used" in oauth_error(reuse, 400, "invalid_grant")
    after = await client.post(TOKEN, json=refresh_body(settings, second["refresh_token"]))
    oauth_error(after, 400, "invalid_grant")


async def test_a_refresh_cannot_widen_the_scope(client, settings):
    first = await tokens_for(client, settings, scope="openid email")
    r = await client.post(
        TOKEN, json=refresh_body(settings, first["refresh_token"], scope="openid profile")
    )
    oauth_error(r, 400, "invalid_scope")


async def test_a_refresh_token_belongs_to_its_client(client, settings):
    await identity.register_client(
        "app_OtherClient001", "Other", "other-secret", settings.redirect_uri
    )
    first = await tokens_for(client, settings)
    r = await client.post(
        TOKEN,
        json={**refresh_body(settings, first["refresh_token"]), "client_id": "app_OtherClient001"},
    )
    oauth_error(r, 400, "invalid_grant")


async def test_revoking_a_refresh_token_ends_refreshes(client, settings):
    tokens = await tokens_for(client, settings)
    r = await client.post(
        "/_whop/oauth/revoke",
        json={"token": tokens["refresh_token"], "client_id": settings.whop_client_id},
    )
    assert r.status_code == 200
    again = await client.post(TOKEN, json=refresh_body(settings, tokens["refresh_token"]))
    assert "revoked" in oauth_error(again, 400, "invalid_grant")


async def test_revoking_an_unknown_token_is_not_an_error(client, settings):
    r = await client.post(
        "/_whop/oauth/revoke",
        data={
            "token": "nope",
            "client_id": settings.whop_client_id,
            "client_secret": settings.whop_client_secret,
        },
    )
    assert r.status_code == 200


async def test_client_secrets_are_stored_hashed(client, settings):
    row = await OAuthClient.select().where(OAuthClient.client_id == settings.whop_client_id).first()
    assert settings.whop_client_secret not in str(row)
