"""Sign in with Whop, Linkmint's side of OpenID Connect (docs/whop-contract.md §1).

The authorize URL (PKCE S256, state, nonce), the code exchange, the id_token check
(signature against Whop's published keys, issuer, audience, expiry, nonce) and the
userinfo read. The HTTP is `app.whop.oauth.WhopOAuth`'s; the rules are here. Whop's OAuth
endpoints are taken from `settings.oauth_base` (its discovery document is known to
advertise production URLs from the sandbox); discovery is read only for the JWKS location.
Some sandboxes also publish production's issuer: the issuer expected of discovery and of
id_tokens is `settings.oauth_issuer` (WHOP_OAUTH_ISSUER), and a mismatch names both.
Everything that can go wrong ends as `SignInFailed`, whose `reason` picks the page the
browser sees. Codes, tokens and verifiers are never logged.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ClaimError, InvalidKeyIdError, JoseError, MissingClaimError
from joserfc.jwk import KeySet

from app.config import Settings
from app.whop import WhopError, WhopOAuth, WhopRejected, WhopUnreachable
from app.whop.oauth import Discovery, Tokens, UserInfo

SCOPE = "openid profile email"
ID_TOKEN_ALGORITHMS = ["ES256"]
CLOCK_LEEWAY = 60  # seconds of clock skew tolerated on exp / iat


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


def _whop_trouble(exc: WhopError) -> SignInFailed:
    """Whop did not answer, or answered nothing usable (the reason holds no secret)."""
    if isinstance(exc, WhopUnreachable):
        return SignInFailed("whop_unreachable", 502, exc.reason)
    return SignInFailed("whop_failed", 502, exc.reason)


# --- the code exchange ------------------------------------------------------------------


async def exchange_code(oauth: WhopOAuth, *, code: str, verifier: str) -> Tokens:
    """Whop's tokens for `code`."""
    try:
        return await oauth.exchange_code(code=code, verifier=verifier)
    except WhopRejected as exc:
        if exc.type == "invalid_client":
            raise SignInFailed("client_rejected", 502, exc.message) from None
        raise SignInFailed("code_rejected", 400, exc.message or exc.type or "") from None
    except WhopError as exc:
        raise _whop_trouble(exc) from None


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

    async def key_set(self, oauth: WhopOAuth, *, refresh: bool = False) -> KeySet:
        issuer = oauth.issuer
        now = time.monotonic()
        cached = self._entries.get(issuer)
        if cached:
            age = now - cached[0]
            if age < self.ttl and not (refresh and age >= self.min_refresh):
                return cached[1]
        keys = await self._fetch(oauth)
        self._entries[issuer] = (now, keys)
        return keys

    async def _fetch(self, oauth: WhopOAuth) -> KeySet:
        try:
            discovery = await oauth.discovery_document()
        except WhopRejected:
            discovery = Discovery(None, None)  # an error answer names no issuer
        except WhopError as exc:
            raise _whop_trouble(exc) from None
        if discovery.issuer != oauth.issuer:
            named = _shown(discovery.issuer)
            raise SignInFailed(
                "whop_failed",
                502,
                f"Whop's discovery document does not match: it names the issuer {named}, "
                f"expected {oauth.issuer!r} (WHOP_OAUTH_ISSUER sets the expected one)",
            )
        jwks_uri = discovery.jwks_uri
        if jwks_uri is None or not jwks_uri.startswith(("https://", "http://")):
            raise SignInFailed("whop_failed", 502, "Whop's discovery document has no jwks_uri")
        try:
            return KeySet.import_key_set(await oauth.jwks(jwks_uri))  # type: ignore[arg-type]
        except (WhopRejected, JoseError, ValueError, TypeError, KeyError):
            pass  # an error answer, or keys joserfc cannot read
        except WhopError as exc:
            raise _whop_trouble(exc) from None
        raise SignInFailed("whop_failed", 502, "Whop's key set is malformed")


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
        problem = _claim_problem(exc)
        if isinstance(exc, ClaimError) and exc.claim == "iss" and "iss" in claims:
            problem = f"its issuer is {_shown(claims['iss'])}, expected {issuer!r}"
        raise SignInFailed("bad_id_token", 400, problem) from None
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


def _shown(value: Any) -> str:
    """A value from Whop's answer, quoted and cut short: it reaches a page and the log."""
    return repr(value[:200]) if isinstance(value, str) else "none"


def _claim_problem(exc: JoseError) -> str:
    if isinstance(exc, MissingClaimError):
        return f"it lacks the {exc.claim} claim"
    claim = exc.claim if isinstance(exc, ClaimError) else ""
    return CLAIM_PROBLEMS.get(claim, "its claims are invalid")


async def verify_id_token(
    settings: Settings, oauth: WhopOAuth, id_token: str, *, nonce: str
) -> dict[str, Any]:
    issuer, client_id = settings.oauth_issuer, settings.whop_client_id
    keys = await JWKS.key_set(oauth)
    try:
        return check_id_token(id_token, keys, issuer=issuer, client_id=client_id, nonce=nonce)
    except InvalidKeyIdError:
        keys = await JWKS.key_set(oauth, refresh=True)
    try:
        return check_id_token(id_token, keys, issuer=issuer, client_id=client_id, nonce=nonce)
    except InvalidKeyIdError:
        raise SignInFailed("bad_id_token", 400, "it was signed with an unknown key") from None


# --- userinfo and the whole exchange ----------------------------------------------------


async def fetch_userinfo(oauth: WhopOAuth, access_token: str) -> UserInfo:
    try:
        return await oauth.userinfo(access_token)
    except WhopRejected as exc:
        raise SignInFailed("whop_failed", 502, f"userinfo answered HTTP {exc.status}") from None
    except WhopError as exc:
        raise _whop_trouble(exc) from None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def complete_sign_in(
    settings: Settings, oauth: WhopOAuth, *, code: str, verifier: str, nonce: str
) -> WhopProfile:
    """Exchange the code, verify the id_token, read userinfo: who signed in at Whop."""
    tokens = await exchange_code(oauth, code=code, verifier=verifier)
    if tokens.id_token is None:
        raise SignInFailed("bad_id_token", 502, "Whop sent no id_token")
    claims = await verify_id_token(settings, oauth, tokens.id_token, nonce=nonce)
    info = await fetch_userinfo(oauth, tokens.access_token)
    if info.sub != claims["sub"]:
        raise SignInFailed("whop_failed", 502, "userinfo describes another user")
    return WhopProfile(
        whop_user_id=claims["sub"],
        email=info.email or _text(claims.get("email")),
        name=info.name,
        username=info.preferred_username,
        picture=info.picture,
    )
