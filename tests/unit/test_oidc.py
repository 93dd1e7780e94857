"""Linkmint's side of Sign in with Whop, piece by piece: the pending-sign-in cookie, the
`next` rule, the id_token check, the JWKS cache and how Whop's answers map to failures.
Whop is played by `httpx.MockTransport` under the real `WhopOAuth`; keys are made here."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import ECKey, KeySet, OctKey

from app.auth import oidc
from app.auth.access_log import redact
from app.auth.oidc import JwksCache, SignInFailed, check_id_token
from app.auth.pending import PendingSignIn, safe_next, seal, unseal
from app.config import settings_from
from app.whop import WhopOAuth

ISSUER = "https://whop.test"
CLIENT = "app_UnitClient0001"
SECRET = "unit-secret-key-" + "y" * 40


@pytest.fixture
def whop_settings(tmp_path):
    return settings_from(
        {
            "APP_URL": "https://linkmint.example",
            "SECRET_KEY": SECRET,
            "WHOP_API_BASE": f"{ISSUER}/api/v1",
            "WHOP_OAUTH_BASE": f"{ISSUER}/oauth",
            "WHOP_API_KEY": "apik_x",
            "WHOP_CLIENT_ID": CLIENT,
            "WHOP_CLIENT_SECRET": "client-secret",
            "WHOP_PARENT_COMPANY_ID": "biz_x",
            "WHOP_WEBHOOK_SECRET": "ws_x",
            "VAR_DIR": str(tmp_path),
        }
    )


def es256_key(kid: str = "k1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})


def public_set(*keys: ECKey) -> KeySet:
    return KeySet.import_key_set({"keys": [k.as_dict(private=False) for k in keys]})


def claims_for(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "user_Abcdefghij1234",
        "iat": now,
        "exp": now + 3600,
        "nonce": "n-1",
        **overrides,
    }
    return {k: v for k, v in claims.items() if v is not None}


def id_token(key: ECKey, **overrides: Any) -> str:
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims_for(**overrides), key)


def check(token: str, keys: KeySet, nonce: str = "n-1") -> dict:
    return check_id_token(token, keys, issuer=ISSUER, client_id=CLIENT, nonce=nonce)


# --- next -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "//evil.com",
        "///evil.com",
        "https://evil.com",
        "HTTPS://evil.com",
        "/\\evil.com",
        "\\/evil.com",
        "/%2F%2Fevil.com",
        "/%2f%2fevil.com",
        "/%252F%252Fevil.com",
        "/%5C%5Cevil.com",
        "javascript:alert(1)",
        "/\nevil",
        "/\x00",
        "/ok\u202e",
        "dashboard",
        "/auth/callback?code=x",
        "/" + "a" * 1100,
    ],
)
def test_next_that_is_not_a_plain_local_path_is_refused(raw):
    assert safe_next(raw) is None


@pytest.mark.parametrize(
    "raw", ["/", "/dashboard", "/alice", "/dashboard/links?tab=a&b=c#top", "/a%20b"]
)
def test_plain_local_paths_are_kept(raw):
    assert safe_next(raw) == raw


# --- the pending sign-in cookie ---------------------------------------------------------


def pending(**overrides: Any) -> PendingSignIn:
    values = {
        "state": "s" * 43,
        "nonce": "n" * 43,
        "verifier": "v" * 64,
        "next": "/dashboard",
        "expires_at": int(time.time()) + 600,
    }
    return PendingSignIn(**{**values, **overrides})


def test_a_sealed_pending_sign_in_opens_with_the_same_key():
    p = pending()
    sealed = seal(p, SECRET)
    assert unseal(sealed, SECRET) == p
    assert "v" * 20 not in base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)).decode(
        "latin-1"
    )


def test_each_seal_differs_even_for_the_same_content():
    p = pending()
    assert seal(p, SECRET) != seal(p, SECRET)


@pytest.mark.parametrize("tamper", ["flip", "truncate", "other_key", "garbage", "empty"])
def test_a_tampered_or_foreign_pending_cookie_is_refused(tamper):
    sealed = seal(pending(), SECRET)
    value = {
        "flip": sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:],
        "truncate": sealed[:20],
        "other_key": seal(pending(), "another-secret-key-" + "z" * 40),
        "garbage": "!!!not base64!!!",
        "empty": "",
    }[tamper]
    assert unseal(value, SECRET) is None


def test_a_stale_pending_cookie_is_refused_even_if_the_browser_kept_it():
    sealed = seal(pending(expires_at=int(time.time()) - 1), SECRET)
    assert unseal(sealed, SECRET) is None


# --- the authorize URL ----------------------------------------------------------------


def test_the_authorize_url_carries_an_s256_challenge_of_the_verifier(whop_settings):
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
    url = oidc.authorize_url(whop_settings, state="st", nonce="no", verifier=verifier)
    assert url.startswith(f"{ISSUER}/oauth/authorize?")
    query = dict(httpx.URL(url).params)
    assert query["code_challenge"] == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == "https://linkmint.example/auth/callback"
    assert (query["state"], query["nonce"]) == ("st", "no")


# --- the id_token ---------------------------------------------------------------------


def test_a_good_id_token_passes():
    key = es256_key()
    claims = check(id_token(key), public_set(key))
    assert claims["sub"] == "user_Abcdefghij1234"


@pytest.mark.parametrize(
    "overrides,problem",
    [
        (
            {"iss": "https://evil.test"},
            "issuer is 'https://evil.test', expected 'https://whop.test'",
        ),
        ({"aud": "app_SomeoneElse0001"}, "issued to another app"),
        ({"aud": [CLIENT, "app_SomeoneElse0001"]}, "issued to several apps"),
        ({"exp": -120}, "expired"),  # seconds from now, taken when the test runs: a value
        ({"iat": +600}, "in the future"),  # computed at collection would age with the suite
        ({"sub": None}, "lacks the sub claim"),
        ({"exp": None}, "lacks the exp claim"),
    ],
)
def test_an_id_token_with_wrong_claims_is_refused(overrides, problem):
    key = es256_key()
    now = int(time.time())
    overrides = {k: now + v if k in ("exp", "iat") and v else v for k, v in overrides.items()}
    with pytest.raises(SignInFailed) as failed:
        check(id_token(key, **overrides), public_set(key))
    assert failed.value.reason == "bad_id_token"
    assert problem in failed.value.detail


def test_a_little_clock_skew_is_tolerated():
    key = es256_key()
    check(id_token(key, exp=int(time.time()) - 30, iat=int(time.time()) - 3630), public_set(key))


@pytest.mark.parametrize("nonce", ["n-2", None, ""])
def test_an_id_token_for_another_nonce_is_refused(nonce):
    key = es256_key()
    with pytest.raises(SignInFailed) as failed:
        check(id_token(key, nonce=nonce), public_set(key))
    assert failed.value.reason == "nonce_mismatch"


def test_a_token_signed_by_another_key_with_the_same_kid_is_refused():
    ours, impostor = es256_key("k1"), es256_key("k1")
    with pytest.raises(SignInFailed) as failed:
        check(id_token(impostor), public_set(ours))
    assert failed.value.reason == "bad_id_token"


def test_unsigned_and_symmetric_tokens_are_refused():
    key, claims = es256_key(), claims_for()
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"k1"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(SignInFailed):
        check(f"{header}.{body}.", public_set(key))
    hs_key = OctKey.import_key(b"k" * 32, parameters={"kid": "k1"})
    hs = jws.serialize_compact(
        {"alg": "HS256", "kid": "k1"}, json.dumps(claims), hs_key, algorithms=["HS256"]
    )
    with pytest.raises(SignInFailed):
        check(hs, public_set(key))


def test_a_token_from_an_unknown_key_asks_for_a_refresh():
    with pytest.raises(InvalidKeyIdError):
        check(id_token(es256_key("new")), public_set(es256_key("old")))


# --- discovery and the key cache ------------------------------------------------------


class FakeWhop:
    """Discovery, JWKS, token and userinfo endpoints, counting the calls made. `answers`
    replaces a path's answer with (status, JSON body or text)."""

    def __init__(self, *keys: ECKey) -> None:
        self.keys = list(keys)
        self.calls: list[str] = []
        self.answers: dict[str, tuple[int, Any]] = {}
        self.userinfo: dict = {"sub": "user_Abcdefghij1234", "email": "a@example.com"}

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append(path)
        if path in self.answers:
            status, body = self.answers[path]
            if isinstance(body, str):
                return httpx.Response(status, text=body)
            return httpx.Response(status, json=body)
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/.well-known/jwks.json"}
            )
        if path == "/.well-known/jwks.json":
            return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in self.keys]})
        if path == "/oauth/userinfo":
            return httpx.Response(200, json=self.userinfo)
        return httpx.Response(404)

    def client(self, settings) -> WhopOAuth:
        return oauth_answering(settings, self.handler)


def oauth_answering(settings, handler) -> WhopOAuth:
    return WhopOAuth(settings, transport=httpx.MockTransport(handler))


async def test_the_key_set_is_fetched_once_and_cached(whop_settings):
    whop, cache = FakeWhop(es256_key()), JwksCache()
    async with whop.client(whop_settings) as oauth:
        await cache.key_set(oauth)
        await cache.key_set(oauth)
    assert whop.calls.count("/.well-known/jwks.json") == 1


async def test_a_refresh_is_rate_limited(whop_settings):
    whop, cache = FakeWhop(es256_key()), JwksCache(min_refresh=30)
    async with whop.client(whop_settings) as oauth:
        await cache.key_set(oauth)
        await cache.key_set(oauth, refresh=True)  # too soon: served from the cache
    assert whop.calls.count("/.well-known/jwks.json") == 1


async def test_a_rotated_key_is_found_by_refreshing(whop_settings, monkeypatch):
    old, new = es256_key("old"), es256_key("new")
    whop = FakeWhop(old)
    monkeypatch.setattr(oidc, "JWKS", JwksCache(min_refresh=0))
    async with whop.client(whop_settings) as oauth:
        await oidc.JWKS.key_set(oauth)
        whop.keys = [old, new]  # Whop rotates
        claims = await oidc.verify_id_token(whop_settings, oauth, id_token(new), nonce="n-1")
    assert claims["sub"] == "user_Abcdefghij1234"
    assert whop.calls.count("/.well-known/jwks.json") == 2


async def test_discovery_for_another_issuer_is_refused(whop_settings):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"issuer": "https://evil.test", "jwks_uri": "https://evil.test/jwks"}
        )

    async with oauth_answering(whop_settings, handler) as oauth:
        with pytest.raises(SignInFailed) as failed:
            await JwksCache().key_set(oauth)
    assert failed.value.reason == "whop_failed" and failed.value.status_code == 502
    assert "names the issuer 'https://evil.test', expected 'https://whop.test'" in (
        failed.value.detail
    )


SANDBOX = "https://sandbox-api.whop.test"


def sandbox_settings(tmp_path, **extra: str):
    """Settings for a Whop sandbox whose discovery document names production's issuer."""
    return settings_from(
        {
            "APP_URL": "https://linkmint.example",
            "SECRET_KEY": SECRET,
            "WHOP_API_BASE": f"{SANDBOX}/api/v1",
            "WHOP_OAUTH_BASE": f"{SANDBOX}/oauth",
            "WHOP_API_KEY": "apik_x",
            "WHOP_CLIENT_ID": CLIENT,
            "WHOP_CLIENT_SECRET": "client-secret",
            "WHOP_PARENT_COMPANY_ID": "biz_x",
            "WHOP_WEBHOOK_SECRET": "ws_x",
            "VAR_DIR": str(tmp_path),
            **extra,
        }
    )


def test_the_expected_issuer_is_derived_from_the_oauth_base_unless_set(tmp_path):
    derived = sandbox_settings(tmp_path)
    assert derived.oauth_issuer == derived.oauth_authority == SANDBOX
    chosen = sandbox_settings(tmp_path, WHOP_OAUTH_ISSUER=ISSUER)
    assert (chosen.oauth_issuer, chosen.oauth_authority) == (ISSUER, SANDBOX)


async def test_a_sandbox_naming_productions_issuer_signs_in_once_the_issuer_is_set(
    tmp_path, monkeypatch
):
    key = es256_key()
    whop = FakeWhop(key)  # its discovery document names ISSUER, wherever it is served
    monkeypatch.setattr(oidc, "JWKS", JwksCache())
    settings = sandbox_settings(tmp_path, WHOP_OAUTH_ISSUER=ISSUER)
    async with whop.client(settings) as oauth:
        claims = await oidc.verify_id_token(settings, oauth, id_token(key), nonce="n-1")
    assert claims["iss"] == ISSUER


async def test_without_the_issuer_set_both_issuers_are_named(tmp_path, monkeypatch):
    key = es256_key()
    monkeypatch.setattr(oidc, "JWKS", JwksCache())
    settings = sandbox_settings(tmp_path)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return FakeWhop(key).handler(request)

    async with oauth_answering(settings, handler) as oauth:
        with pytest.raises(SignInFailed) as failed:
            await oidc.verify_id_token(settings, oauth, id_token(key), nonce="n-1")
    assert failed.value.reason == "whop_failed"
    assert f"names the issuer '{ISSUER}', expected '{SANDBOX}'" in failed.value.detail
    assert "WHOP_OAUTH_ISSUER" in failed.value.detail
    assert str(seen[0].url) == f"{SANDBOX}/.well-known/openid-configuration"
    # The id_token's own issuer is checked against the expected one, both named too.
    keys = public_set(key)
    with pytest.raises(SignInFailed) as refused:
        check_id_token(id_token(key), keys, issuer=SANDBOX, client_id=CLIENT, nonce="n-1")
    assert refused.value.detail == f"its issuer is '{ISSUER}', expected '{SANDBOX}'"


# --- how Whop's answers map to failures ------------------------------------------------


@pytest.mark.parametrize(
    "status,body,reason,http_status,detail",
    [
        (
            400,
            {"error": "invalid_grant", "error_description": "Authorization code has expired"},
            "code_rejected",
            400,
            "Authorization code has expired",
        ),
        (400, {"error": "invalid_grant"}, "code_rejected", 400, "invalid_grant"),
        (
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            "client_rejected",
            502,
            "Client authentication failed",
        ),
        (500, {"error": "server_error"}, "whop_failed", 502, "HTTP 500"),
        (503, "<html>down</html>", "whop_failed", 502, "HTTP 503"),
        (200, "not json", "whop_failed", 502, "HTTP 200, not a JSON object"),
        (400, "<html>bad</html>", "whop_failed", 502, "HTTP 400, not a JSON object"),
        (
            200,
            {"token_type": "Bearer"},
            "whop_failed",
            502,
            "the token response has no access_token",
        ),
    ],
)
async def test_token_endpoint_answers_become_specific_failures(
    whop_settings, status, body, reason, http_status, detail
):
    whop = FakeWhop(es256_key())
    whop.answers["/oauth/token"] = (status, body)
    async with whop.client(whop_settings) as oauth:
        with pytest.raises(SignInFailed) as failed:
            await oidc.exchange_code(oauth, code="c", verifier="v" * 64)
    assert (failed.value.reason, failed.value.status_code) == (reason, http_status)
    assert failed.value.detail == detail


@pytest.mark.parametrize(
    "path,status,body,detail",
    [
        ("/.well-known/openid-configuration", 404, {"error": "not_found"}, "does not match"),
        ("/.well-known/openid-configuration", 502, "<html>", "HTTP 502"),
        ("/.well-known/openid-configuration", 200, "<html>", "HTTP 200, not a JSON object"),
        ("/.well-known/openid-configuration", 200, {"issuer": ISSUER}, "has no jwks_uri"),
        ("/.well-known/jwks.json", 404, {"error": "not_found"}, "Whop's key set is malformed"),
        ("/.well-known/jwks.json", 200, {"keys": "none"}, "Whop's key set is malformed"),
        ("/.well-known/jwks.json", 200, "<html>", "HTTP 200, not a JSON object"),
        ("/.well-known/jwks.json", 503, {}, "HTTP 503"),
    ],
)
async def test_discovery_and_key_set_answers_become_whop_failed(
    whop_settings, path, status, body, detail
):
    whop = FakeWhop(es256_key())
    whop.answers[path] = (status, body)
    async with whop.client(whop_settings) as oauth:
        with pytest.raises(SignInFailed) as failed:
            await JwksCache().key_set(oauth)
    assert (failed.value.reason, failed.value.status_code) == ("whop_failed", 502)
    assert detail in failed.value.detail


@pytest.mark.parametrize(
    "status,body,detail",
    [
        (401, {"error": "invalid_token"}, "userinfo answered HTTP 401"),
        (403, "forbidden", "userinfo answered HTTP 403"),
        (500, {}, "HTTP 500"),
        (200, ["not", "an", "object"], "HTTP 200, not a JSON object"),
    ],
)
async def test_userinfo_answers_become_whop_failed(whop_settings, status, body, detail):
    whop = FakeWhop(es256_key())
    whop.answers["/oauth/userinfo"] = (status, body)
    async with whop.client(whop_settings) as oauth:
        with pytest.raises(SignInFailed) as failed:
            await oidc.fetch_userinfo(oauth, "at")
    assert (failed.value.reason, failed.value.status_code, failed.value.detail) == (
        "whop_failed",
        502,
        detail,
    )


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout])
async def test_an_unreachable_whop_is_whop_unreachable(whop_settings, error):
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("refused", request=request)

    async with oauth_answering(whop_settings, handler) as oauth:
        with pytest.raises(SignInFailed) as failed:
            await oidc.exchange_code(oauth, code="c", verifier="v" * 64)
    assert (failed.value.reason, failed.value.status_code) == ("whop_unreachable", 502)
    assert failed.value.detail == error.__name__


async def test_userinfo_about_another_user_is_refused(whop_settings, monkeypatch):
    key = es256_key()
    whop = FakeWhop(key)
    whop.answers["/oauth/token"] = (
        200,
        {"access_token": "at", "id_token": id_token(key), "token_type": "Bearer"},
    )
    whop.userinfo = {"sub": "user_SomeoneElse0001"}
    monkeypatch.setattr(oidc, "JWKS", JwksCache())
    async with whop.client(whop_settings) as oauth:
        with pytest.raises(SignInFailed) as failed:
            await oidc.complete_sign_in(
                whop_settings, oauth, code="c", verifier="v" * 64, nonce="n-1"
            )
    assert failed.value.reason == "whop_failed"


async def test_a_complete_sign_in_returns_the_whop_profile(whop_settings, monkeypatch):
    key = es256_key()
    whop = FakeWhop(key)
    whop.answers["/oauth/token"] = (
        200,
        {"access_token": "at", "id_token": id_token(key), "token_type": "Bearer"},
    )
    whop.userinfo = {
        "sub": "user_Abcdefghij1234",
        "email": "a@example.com",
        "name": "Ada",
        "preferred_username": "ada",
        "picture": None,
    }
    monkeypatch.setattr(oidc, "JWKS", JwksCache())
    async with whop.client(whop_settings) as oauth:
        profile = await oidc.complete_sign_in(
            whop_settings, oauth, code="c", verifier="v" * 64, nonce="n-1"
        )
    assert profile == oidc.WhopProfile("user_Abcdefghij1234", "a@example.com", "Ada", "ada", None)
    assert whop.calls == [
        "/oauth/token",
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/oauth/userinfo",
    ]


# --- logs -----------------------------------------------------------------------------


def test_access_log_lines_lose_codes_and_states():
    line = "/auth/callback?code=SECRETCODE&state=SECRETSTATE&next=/x"
    assert redact(line) == "/auth/callback?code=[redacted]&state=[redacted]&next=/x"
    assert redact("/auth/callback?error=access_denied") == "/auth/callback?error=access_denied"
