"""`WhopOAuth`: HTTP to Whop's OAuth 2.1 / OpenID Connect endpoints (docs/whop-contract.md §1).

The code exchange, userinfo, the discovery document and the key set, answered as plain
JSON objects. What those answers must say (issuer, signatures, claims, nonce) is checked by
Sign in with Whop in `app.auth.oidc`; this module only carries them. Every failure is one
of `app.whop.errors` (no answer at all: `WhopUnreachable`); a refusal is `WhopRejected`
with the OAuth `error` code as its `type` and `error_description` as its `message`.
Reasons name the HTTP status or the network error only, never a code, token, verifier or
the client secret.
"""

from __future__ import annotations

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

    async def exchange_code(self, *, code: str, verifier: str) -> dict[str, Any]:
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
        if not isinstance(body.get("access_token"), str):
            raise WhopBadResponse(operation, "the token response has no access_token")
        return body

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        operation = "userinfo"
        response = await self._request(
            operation,
            "GET",
            f"{self._settings.oauth_base}/userinfo",
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if response.status_code != 200:
            raise _rejected(operation, response)
        return _json_object(operation, response)

    async def discovery_document(self) -> dict[str, Any]:
        operation = "OIDC discovery"
        # Read from Whop's own origin even when the expected issuer is set to another one.
        authority = self._settings.oauth_authority
        response = await self._request(
            operation, "GET", f"{authority}/.well-known/openid-configuration"
        )
        return _success(operation, response)

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
