"""Who the buyer is: a random token in a signed, HttpOnly cookie, with no account needed.

The browser keeps the token; an unlock keeps only the token's SHA-256, so a database leak
does not let anyone act as a buyer. The cookie can also carry the Whop user ids this browser
proved it belongs to ("Restore purchases": signing in with Whop binds that account's paid
unlocks to the browser). The cookie is signed with a key derived from SECRET_KEY, so neither
the token nor the bound accounts can be forged or altered.

"Forget this browser" (/unlocks/forget) ends all of that for a shared or borrowed computer:
the server replaces the cookie with an expired one (it is HttpOnly, so no page could), and
with it the token and every bound account, which live nowhere else. What was bought stays
bought: the unlocks keep the purchase, and "Restore purchases" brings it back after signing
in with the Whop account that paid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from litestar import MediaType, Request, get, post
from litestar.datastructures import Cookie
from litestar.response import Template

from app.config import Settings
from app.web.cookies import expired_cookie
from app.web.deps import SettingsDep

COOKIE_LIFETIME = 400 * 24 * 3600  # the longest Max-Age browsers honour
MAX_BOUND_ACCOUNTS = 10
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
_WHOP_USER = re.compile(r"user_[A-Za-z0-9]{1,60}")
_LABEL = b"linkmint buyer cookie v1"


def buyer_cookie_name(secure: bool) -> str:
    return "__Host-lm_buyer" if secure else "lm_buyer"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Buyer:
    token: str
    whop_user_ids: tuple[str, ...] = ()

    @property
    def token_hash(self) -> str:
        return token_digest(self.token)

    def bound_to(self, whop_user_id: str) -> Buyer:
        """This browser, also owning what `whop_user_id` bought (newest binding kept first)."""
        others = tuple(u for u in self.whop_user_ids if u != whop_user_id)
        return replace(self, whop_user_ids=(whop_user_id, *others)[:MAX_BOUND_ACCOUNTS])


def new_buyer() -> Buyer:
    return Buyer(token=secrets.token_urlsafe(32))


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _LABEL, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_buyer(buyer: Buyer, secret_key: str) -> str:
    body = {"t": buyer.token, "u": list(buyer.whop_user_ids)}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    signature = _b64(hmac.new(_key(secret_key), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


@lru_cache(maxsize=8192)
def open_buyer(value: str | None, secret_key: str) -> Buyer | None:
    """The buyer in a cookie value, or None when it is missing, forged, altered or malformed.

    A pure function of its arguments, so it is memoised: a buyer polling every second sends
    the same cookie each time, and checking its signature again would tell nothing new.
    """
    if not value or len(value) > 2048 or value.count(".") != 1:
        return None
    payload, signature = value.split(".")
    expected = hmac.new(_key(secret_key), payload.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(signature), expected):
            return None
        body = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    token, users = body.get("t"), body.get("u")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token) or not isinstance(users, list):
        return None
    if not all(isinstance(u, str) and _WHOP_USER.fullmatch(u) for u in users):
        return None
    return Buyer(token=token, whop_user_ids=tuple(users[:MAX_BOUND_ACCOUNTS]))


def read_buyer(request: Request[Any, Any, Any], settings: Settings) -> Buyer | None:
    return open_buyer(
        request.cookies.get(buyer_cookie_name(settings.secure_cookies)), settings.secret_key
    )


def buyer_cookie(settings: Settings, buyer: Buyer) -> Cookie:
    return Cookie(
        key=buyer_cookie_name(settings.secure_cookies),
        value=seal_buyer(buyer, settings.secret_key),
        max_age=COOKIE_LIFETIME,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",  # sent on the top-level return from Whop's checkout
    )


_BACK = re.compile(r"/[A-Za-z0-9._-]{1,40}")
PRIVATE = {"cache-control": "private, no-store"}


def _back(raw: object) -> str:
    """A creator's page on this site to return to, or the home page."""
    return raw if isinstance(raw, str) and _BACK.fullmatch(raw) else "/"


@get("/unlocks/forget", name="payments:forget", cache=False, include_in_schema=False)
async def forget_page(request: Request[Any, Any, Any], settings: SettingsDep) -> Template:
    """What forgetting this browser does, and the button (a POST, with the CSRF token)."""
    buyer = read_buyer(request, settings)
    return Template(
        template_name="payments/forget.html",
        context={
            "back": _back(request.query_params.get("next")),
            "remembered": buyer is not None,
            "accounts": len(buyer.whop_user_ids) if buyer else 0,
            "forgotten": False,
        },
        headers=PRIVATE,
        media_type=MediaType.HTML,
    )


@post("/unlocks/forget", name="payments:forget-now", status_code=200, include_in_schema=False)
async def forget(request: Request[Any, Any, Any], settings: SettingsDep) -> Template:
    """Clear this browser's buyer cookie: its token and the Whop accounts bound to it."""
    form = await request.form()
    return Template(
        template_name="payments/forget.html",
        context={"back": _back(form.get("next")), "forgotten": True},
        cookies=[expired_cookie(settings, buyer_cookie_name(settings.secure_cookies))],
        headers=PRIVATE,
        media_type=MediaType.HTML,
    )


ROUTES = [forget_page, forget]
