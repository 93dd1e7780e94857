"""Abuse limits that hold across processes: every hit is counted in PostgreSQL.

The routes anyone may call that cost a call to Whop or a write (signing in, the return from
checkout, starting an unlock, CSP reports, the live handle check) take `limited(...)` as their
`before_request` hook. One statement counts a hit and says where the count stands (`INSERT …
ON CONFLICT (bucket, key) DO UPDATE SET hits = hits + 1 … RETURNING hits`): concurrent hits
from any number of processes queue on that row's lock, so together they allow exactly `hits`
per window, where Litestar's in-memory limit allowed that many per process.

A window opens at a key's first hit and lasts `seconds`; the hit after the limit, and every
one after it until the window ends, is answered 429 with `Retry-After` (the seconds left in
the window): a page for people, plain text for what browsers post by themselves. A window
per key, not per clock minute, judges a burst whole wherever it falls (one that straddles a
clock minute is not let through twice); across two consecutive windows a client may still
spend up to twice the limit in a short time, which is fine for a bound on abuse.

The key is the client's address as the app sees it (uvicorn has already put the client a
trusted proxy forwards in place of the proxy's own address: TRUSTED_PROXIES), or the
signed-in creator where a route is for creators only. It is stored as an HMAC keyed by
SECRET_KEY over the bucket and the key, so the table holds no address and a row means
nothing outside its bucket and its installation. Whichever process counts a hit deletes the
windows that have ended, at most once a minute.

The limiter fails open: while PostgreSQL cannot be reached, or refuses the statement, the
request goes on uncounted and a warning is logged. A limit must never be the reason a request
fails; the route's own queries, if it has any, report an outage as they always have.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import MediaType, Request, Response
from litestar.response import Template
from piccolo.querystring import QueryString

from app.auth.guards import current_creator
from app.db.engine import app_engine
from app.web.errors import TITLES

log = logging.getLogger("app.web.limits")

TOO_MANY = 429
PURGE_EVERY = 60.0  # seconds between one process's deletions of ended windows

_HIT_SQL = """
INSERT INTO rate_limit_hit AS r (bucket, key, hits, expires_at)
VALUES ({}, {}, 1, now() + {}::interval)
ON CONFLICT (bucket, key) DO UPDATE
   SET hits = CASE WHEN r.expires_at > now() THEN r.hits + 1 ELSE 1 END,
       expires_at = CASE WHEN r.expires_at > now() THEN r.expires_at ELSE excluded.expires_at END
RETURNING r.hits, extract(epoch FROM r.expires_at - now())::float8 AS seconds_left
"""
_PURGE_SQL = "DELETE FROM rate_limit_hit WHERE expires_at < now()"

Key = Callable[[Request[Any, Any, Any]], Awaitable[str]]


async def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For already applied)."""
    return request.client.host if request.client else "unknown"


async def client_and_path(request: Request[Any, Any, Any]) -> str:
    """The client and what it asks for: each premium link counts on its own."""
    return f"{await client_address(request)} {request.url.path}"


async def creator_or_client(request: Request[Any, Any, Any]) -> str:
    """The signed-in creator (loaded once: the route's own dependency reuses it), or the
    client's address for a request that is about to be sent to sign in."""
    creator = await current_creator(request, request.app.state.settings)
    return f"creator {creator.id}" if creator else await client_address(request)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `hits` requests per `seconds` for each key `by` finds, in all processes."""

    bucket: str
    hits: int
    seconds: int
    by: Key = client_address
    page: bool = True  # a page for people; plain text for what browsers post by themselves

    async def refusal(self, request: Request[Any, Any, Any]) -> Response[Any] | None:
        """The 429 for this request once its key is over the limit; None while it is not,
        and while the count cannot be kept (see the module docstring: it fails open)."""
        try:
            key = await self.by(request)
            hits, seconds_left = await _count(self, _digest(request, self.bucket, key))
        except Exception as exc:  # noqa: BLE001 (whatever it is, the request must go on)
            log.warning("abuse limit %s not counted, request let through: %r", self.bucket, exc)
            return None
        if hits <= self.hits:
            return None
        retry_after = max(1, math.ceil(seconds_left))
        if hits == self.hits + 1:  # one line per key and window, however long a flood lasts
            log.info("abuse limit %s reached; refused for %ss", self.bucket, retry_after)
        return self._answer(retry_after)

    def _answer(self, retry_after: int) -> Response[Any]:
        headers = {"retry-after": str(retry_after), "cache-control": "no-store"}
        detail = (
            "You sent too many requests in a short time. "
            f"Please try again in {retry_after} second{'s' if retry_after != 1 else ''}."
        )
        if not self.page:
            return Response(
                detail, status_code=TOO_MANY, headers=headers, media_type=MediaType.TEXT
            )
        return Template(
            template_name="errors/error.html",
            context={"status_code": TOO_MANY, "title": TITLES[TOO_MANY], "detail": detail},
            status_code=TOO_MANY,
            headers=headers,
            media_type=MediaType.HTML,
        )


def limited(*limits: Limit) -> Callable[[Request[Any, Any, Any]], Awaitable[Response[Any] | None]]:
    """A `before_request` hook: the first of `limits` that refuses answers for the route."""

    async def before_request(request: Request[Any, Any, Any]) -> Response[Any] | None:
        for limit in limits:
            if (refused := await limit.refusal(request)) is not None:
                return refused
        return None

    return before_request


def _digest(request: Request[Any, Any, Any], bucket: str, key: str) -> str:
    secret = request.app.state.settings.secret_key.encode()
    return hmac.new(secret, f"{bucket}\n{key}".encode(), hashlib.sha256).hexdigest()


_purged_at = -PURGE_EVERY


async def _count(limit: Limit, key: str) -> tuple[int, float]:
    """Count one hit: the hits so far in the key's window, and the seconds it has left."""
    global _purged_at
    engine = app_engine()
    window = timedelta(seconds=limit.seconds)
    rows = await engine.run_querystring(QueryString(_HIT_SQL, limit.bucket, key, window))
    if time.monotonic() - _purged_at >= PURGE_EVERY:
        _purged_at = time.monotonic()
        try:
            await engine.run_querystring(QueryString(_PURGE_SQL))
        except Exception as exc:  # noqa: BLE001 (the next purge takes these rows too)
            log.warning("ended abuse-limit windows not deleted: %r", exc)
    return rows[0]["hits"], rows[0]["seconds_left"]


# --- the limits -------------------------------------------------------------------------
# Each is far above what a person does, so nobody meets it by using Linkmint, even many people
# behind one address (an office, a mobile carrier's NAT); it only caps what a script can make
# Linkmint spend on Whop's API and the database.

# Starting a sign-in asks Whop nothing, but keeps a pending sign-in and sends the browser to
# Whop's authorize page in Linkmint's name: two a second, sustained for a minute.
LOGIN = Limit("auth:login", hits=120, seconds=60)
# Each callback with a valid state costs a token exchange and a userinfo call at Whop, then
# writes a session; a person needs one per sign-in.
CALLBACK = Limit("auth:callback", hits=60, seconds=60)
# Each return from checkout may ask Whop about a payment (at most once per unlock every few
# seconds, app/payments/convergence.py); a person comes back once per purchase.
CONFIRM = Limit("checkout:confirm", hits=120, seconds=60)
# Each press of Unlock by a new buyer writes an unlock and makes a checkout at Whop. Per link,
# a person presses a few times at most (a retry, a second tab); across links, a page of
# premium links bought one after the other stays far below the second bound.
UNLOCK_PER_LINK = Limit("unlock:link", hits=30, seconds=60, by=client_and_path)
UNLOCK = Limit("unlock", hits=300, seconds=60)
# A page that breaks its policy can report every blocked resource, and browsers batch them;
# beyond this the reports only fill the log.
CSP_REPORT = Limit("csp-report", hits=120, seconds=60, page=False)
# The live handle check runs as a creator types (300 ms after the last key): a fast typist
# makes about three a second while typing, and nobody types for a minute on end.
HANDLE_CHECK = Limit("studio:handle-check", hits=120, seconds=60, by=creator_or_client)
# Each avatar upload makes the server decode and re-encode an image of up to 4096 × 4096
# pixels; a person tries a few photos, a script could keep a core busy.
AVATAR_UPLOAD = Limit("studio:avatar", hits=20, seconds=300, by=creator_or_client)
