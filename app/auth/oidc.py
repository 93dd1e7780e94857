"""Sign in with Whop, Linkmint's side of OpenID Connect (whop-api.md §1).

The authorize URL (PKCE S256, state, nonce), the code exchange, the id_token check
(signature against Whop's published keys, issuer, audience, expiry, nonce) and the
userinfo read. Whop's OAuth endpoints are taken from `settings.oauth_base` (its discovery
document is known to advertise production URLs from the sandbox); discovery is read only
for the JWKS location. Everything that can go wrong ends as `SignInFailed`, whose
`reason` picks the page the browser sees. Codes, tokens and verifiers are never logged.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ClaimError, InvalidKeyIdError, JoseError, MissingClaimError
from joserfc.jwk import KeySet

from app.config import Settings

SCOPE = "openid profile email"
ID_TOKEN_ALGORITHMS = ["ES256"]
CLOCK_LEEWAY = 60  # seconds of clock skew tolerated on exp / iat
HTTP_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


class SignInFailed(Exception):
    """A sign-in that must stop. `reason` names what happened; `detail` is safe to show."""

    def __init__(self, reason: str, status_code: int = 400, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class WhopProfile:
    whop_user_id: str
    email: str | None
    name: str | None
    username: str | None
    picture: str | None


def authorize_url(settings: Settings, *, state: str, nonce: str, verifier: str) -> str:
    query = {
        "response_type": "code",
        "client_id": settings.whop_client_id,
        "redirect_uri": settings.redirect_uri,
        "scope": SCOPE,
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{settings.oauth_base}/authorize?{urlencode(query)}"


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=HTTP_TIMEOUT, follow_redirects=False, headers={"User-Agent": "Linkmint"}
    )


async def _call_whop(
    http: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise SignInFailed("whop_unreachable", 502, type(exc).__name__) from None
    if response.status_code >= 500:
        raise SignInFailed("whop_failed", 502, f"HTTP {response.status_code}")
    return response


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SignInFailed("whop_failed", 502, f"HTTP {response.status_code}, not a JSON object")
    return data


# --- the code exchange ------------------------------------------------------------------


async def exchange_code(
    settings: Settings, http: httpx.AsyncClient, *, code: str, verifier: str
) -> dict[str, Any]:
    """Whop's tokens for `code`. Linkmint is a confidential client (client_secret_post)."""
    response = await _call_whop(
        http,
        "POST",
        f"{settings.oauth_base}/token",
        json={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.redirect_uri,
            "client_id": settings.whop_client_id,
            "client_secret": settings.whop_client_secret,
            "code_verifier": verifier,
        },
    )
    body = _json_object(response)
    if response.status_code != 200:
        error = str(body.get("error", "unknown_error"))[:60]
        description = str(body.get("error_description", ""))[:200]
        if error == "invalid_client":
            raise SignInFailed("client_rejected", 502, description)
        raise SignInFailed("code_rejected", 400, description or error)
    if not isinstance(body.get("access_token"), str):
        raise SignInFailed("whop_failed", 502, "the token response has no access_token")
    return body


# --- the id_token -----------------------------------------------------------------------


class JwksCache:
    """Whop's signing keys, found through discovery and kept for an hour. A token signed
    with a key we have not seen triggers one early refresh (key rotation), at most every
    `min_refresh` seconds, so forged `kid`s cannot make us hammer Whop."""

    def __init__(self, ttl: float = 3600, min_refresh: float = 30) -> None:
        self.ttl = ttl
        self.min_refresh = min_refresh
        self._entries: dict[str, tuple[float, KeySet]] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def key_set(
        self, http: httpx.AsyncClient, issuer: str, *, refresh: bool = False
    ) -> KeySet:
        now = time.monotonic()
        cached = self._entries.get(issuer)
        if cached:
            age = now - cached[0]
            if age < self.ttl and not (refresh and age >= self.min_refresh):
                return cached[1]
        keys = await self._fetch(http, issuer)
        self._entries[issuer] = (now, keys)
        return keys

    async def _fetch(self, http: httpx.AsyncClient, issuer: str) -> KeySet:
        response = await _call_whop(http, "GET", f"{issuer}/.well-known/openid-configuration")
        discovery = _json_object(response)
        if response.status_code != 200 or discovery.get("issuer") != issuer:
            raise SignInFailed("whop_failed", 502, "Whop's discovery document does not match")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise SignInFailed("whop_failed", 502, "Whop's discovery document has no jwks_uri")
        response = await _call_whop(http, "GET", jwks_uri)
        try:
            return KeySet.import_key_set(_json_object(response))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise SignInFailed("whop_failed", 502, "Whop's key set is malformed") from None


JWKS = JwksCache()


def check_id_token(
    id_token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str, now: int | None = None
) -> dict[str, Any]:
    """The id_token's claims, once its signature, issuer, audience, times and nonce hold.

    Raises `InvalidKeyIdError` for a key not in `keys` (the caller refreshes and retries),
    `SignInFailed` for everything else.
    """
    try:
        token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
    except InvalidKeyIdError:
        raise
    except (JoseError, ValueError, TypeError):
        raise SignInFailed("bad_id_token", 400, "its signature does not verify") from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=CLOCK_LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise SignInFailed("bad_id_token", 400, _claim_problem(exc)) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SignInFailed("bad_id_token", 400, "it was issued to several apps")
    sent_nonce = claims.get("nonce")
    if not isinstance(sent_nonce, str) or not hmac.compare_digest(
        sent_nonce.encode(), nonce.encode()
    ):
        raise SignInFailed("nonce_mismatch", 400)
    return claims


CLAIM_PROBLEMS = {
    "exp": "it has expired",
    "iss": "it was issued by someone other than Whop",
    "aud": "it was issued to another app",
    "iat": "it was issued in the future",
    "sub": "it names no user",
}


def _claim_problem(exc: JoseError) -> str:
    if isinstance(exc, MissingClaimError):
        return f"it lacks the {exc.claim} claim"
    claim = exc.claim if isinstance(exc, ClaimError) else ""
    return CLAIM_PROBLEMS.get(claim, "its claims are invalid")


async def verify_id_token(
    settings: Settings, http: httpx.AsyncClient, id_token: str, *, nonce: str
) -> dict[str, Any]:
    issuer, client_id = settings.oauth_issuer, settings.whop_client_id
    keys = await JWKS.key_set(http, issuer)
    try:
        return check_id_token(id_token, keys, issuer=issuer, client_id=client_id, nonce=nonce)
    except InvalidKeyIdError:
        keys = await JWKS.key_set(http, issuer, refresh=True)
    try:
        return check_id_token(id_token, keys, issuer=issuer, client_id=client_id, nonce=nonce)
    except InvalidKeyIdError:
        raise SignInFailed("bad_id_token", 400, "it was signed with an unknown key") from None


# --- userinfo and the whole exchange ----------------------------------------------------


async def fetch_userinfo(
    settings: Settings, http: httpx.AsyncClient, access_token: str
) -> dict[str, Any]:
    response = await _call_whop(
        http,
        "GET",
        f"{settings.oauth_base}/userinfo",
        headers={"Authorization": f"Bearer {access_token}"},
    )
    if response.status_code != 200:
        raise SignInFailed("whop_failed", 502, f"userinfo answered HTTP {response.status_code}")
    return _json_object(response)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def complete_sign_in(
    settings: Settings, http: httpx.AsyncClient, *, code: str, verifier: str, nonce: str
) -> WhopProfile:
    """Exchange the code, verify the id_token, read userinfo: who signed in at Whop."""
    tokens = await exchange_code(settings, http, code=code, verifier=verifier)
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise SignInFailed("bad_id_token", 502, "Whop sent no id_token")
    claims = await verify_id_token(settings, http, id_token, nonce=nonce)
    info = await fetch_userinfo(settings, http, tokens["access_token"])
    if info.get("sub") != claims["sub"]:
        raise SignInFailed("whop_failed", 502, "userinfo describes another user")
    return WhopProfile(
        whop_user_id=claims["sub"],
        email=_text(info.get("email")) or _text(claims.get("email")),
        name=_text(info.get("name")),
        username=_text(info.get("preferred_username")),
        picture=_text(info.get("picture")),
    )
