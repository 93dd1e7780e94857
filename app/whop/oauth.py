"""`WhopOAuth`: HTTP to Whop's OAuth 2.1 / OpenID Connect endpoints (docs/whop-contract.md §1).

The code exchange, userinfo and the discovery document, answered as typed records of the
fields sign-in reads (a field of the wrong JSON type reads as missing), and the key set as
Whop sent it (joserfc reads JWKS documents). What those answers must say (issuer,
signatures, claims, nonce) is checked by Sign in with Whop in `app.auth.oidc`; this module
only carries them. Every failure is one of `app.whop.errors` (no answer at all:
`WhopUnreachable`); a refusal is `WhopRejected` with the OAuth `error` code as its `type`
and `error_description` as its `message`.
Reasons name the HTTP status or the network error only, never a code, token, verifier or
the client secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar

from app.config import Settings
from app.whop.client import InProcessTransport
from app.whop.errors import (
    WhopBadResponse,
    WhopNotFound,
    WhopRejected,
    WhopUnauthorized,
    WhopUnavailable,
    WhopUnreachable,
)

TIMEOUT = httpx.Timeout(5.0, connect=3.0)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Tokens:
    """The token endpoint's answer: an access token always; an id_token when Whop sent one."""

    access_token: str
    id_token: str | None
    token_type: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Tokens:
        access_token = _text(body, "access_token")
        if access_token is None:
            raise WhopBadResponse("token exchange", "the token response has no access_token")
        return cls(access_token, _text(body, "id_token"), _text(body, "token_type"))


@dataclass(frozen=True, slots=True)
class UserInfo:
    """The userinfo answer's standard claims (OpenID Connect Core §5.1) that sign-in uses."""

    sub: str | None
    email: str | None
    name: str | None
    preferred_username: str | None
    picture: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> UserInfo:
        return cls(
            sub=_text(body, "sub"),
            email=_text(body, "email"),
            name=_text(body, "name"),
            preferred_username=_text(body, "preferred_username"),
            picture=_text(body, "picture"),
        )


@dataclass(frozen=True, slots=True)
class Discovery:
    """The discovery document's two fields sign-in needs."""

    issuer: str | None
    jwks_uri: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Discovery:
        return cls(_text(body, "issuer"), _text(body, "jwks_uri"))


class WhopOAuth:
    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings = settings
        self._http = httpx.AsyncClient(
            timeout=TIMEOUT,
            follow_redirects=False,
            headers={"User-Agent": "Linkmint"},
            transport=transport,
        )

    @classmethod
    def connect(cls, settings: Settings, app: Litestar) -> WhopOAuth:
        """A client for one sign-in; `aclose()` it. With the emulator mounted in `app`, its
        OAuth endpoints are reached in-process, as the app's `WhopClient` reaches its API."""
        transport = InProcessTransport(app) if settings.emulator_enabled else None
        return cls(settings, transport=transport)

    @property
    def issuer(self) -> str:
        """The issuer sign-in expects (WHOP_OAUTH_ISSUER, or where discovery is read)."""
        return self._settings.oauth_issuer

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> WhopOAuth:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def exchange_code(self, *, code: str, verifier: str) -> Tokens:
        """Whop's tokens for `code`. Linkmint is a confidential client (client_secret_post)."""
        operation = "token exchange"
        settings = self._settings
        response = await self._request(
            operation,
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
        body = _json_object(operation, response)
        if response.status_code != 200:
            raise _rejected(operation, response)
        return Tokens.from_json(body)

    async def userinfo(self, access_token: str) -> UserInfo:
        operation = "userinfo"
        response = await self._request(
            operation,
            "GET",
            f"{self._settings.oauth_base}/userinfo",
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if response.status_code != 200:
            raise _rejected(operation, response)
        return UserInfo.from_json(_json_object(operation, response))

    async def discovery_document(self) -> Discovery:
        operation = "OIDC discovery"
        # Read from Whop's own origin even when the expected issuer is set to another one.
        authority = self._settings.oauth_authority
        response = await self._request(
            operation, "GET", f"{authority}/.well-known/openid-configuration"
        )
        return Discovery.from_json(_success(operation, response))

    async def jwks(self, jwks_uri: str) -> dict[str, Any]:
        """The JWKS document at `jwks_uri` (from the discovery document), as sent."""
        operation = "JWKS fetch"
        return _success(operation, await self._request(operation, "GET", jwks_uri))

    async def _request(
        self, operation: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            # The name alone: nothing the request carried can reach a reason or a traceback.
            raise WhopUnreachable(operation, type(exc).__name__) from None
        if response.status_code >= 500:
            raise WhopUnavailable(operation, f"HTTP {response.status_code}")
        return response


def _json_object(operation: str, response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise WhopBadResponse(operation, f"HTTP {response.status_code}, not a JSON object")
    return data


def _success(operation: str, response: httpx.Response) -> dict[str, Any]:
    body = _json_object(operation, response)
    if response.status_code != 200:
        raise _rejected(operation, response)
    return body


def _rejected(operation: str, response: httpx.Response) -> WhopRejected:
    """A refusal, with RFC 6749's error body when there is one, shortened: Whop's words may
    reach a page."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    error = str(body.get("error", "unknown_error"))[:60]
    description = str(body.get("error_description", ""))[:200]
    family: type[WhopRejected] = WhopRejected
    if status in (401, 403):
        family = WhopUnauthorized
    elif status == 404:
        family = WhopNotFound
    return family(operation, status, error, None, description)
