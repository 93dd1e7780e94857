"""Shared by the unlock, convergence, inbox and reconcile tests: a creator who can sell, a
premium link, a buyer walking the emulator's checkout, and events signed as Whop signs them."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from app.config import Settings
from app.db.tables import Link, Unlock, WebhookEvent
from app.whop.webhooks import webhook_headers

HX = {"HX-Request": "true"}
PAYS = "4242 4242 4242 4242"
DECLINES = "4000 0000 0000 0002"
_HIDDEN = re.compile(r'name="(session|attempt)" value="([^"]+)"')
_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def whop_auth(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.whop_api_key}"}


async def connected_company(http: httpx.AsyncClient, settings: Settings, name: str) -> str:
    """A company under the platform's parent, made through the emulated Whop API."""
    r = await http.post(
        "/_whop/api/v1/companies",
        json={
            "title": f"{name} {secrets.token_hex(3)}",
            "email": f"{name}@example.com",
            "parent_company_id": settings.whop_parent_company_id,
        },
        headers=whop_auth(settings),
    )
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def make_seller(
    http: httpx.AsyncClient, settings: Settings, make_creator, handle: str = "alice", **fields
) -> dict[str, Any]:
    """A creator who can sell: a Whop company and payouts enabled (set directly)."""
    company = await connected_company(http, settings, handle)
    return await make_creator(handle=handle, whop_company_id=company, payout_enabled=True, **fields)


async def add_premium(
    creator: dict[str, Any],
    title: str = "Secret recipe",
    url: str = "https://secret.example/recipe?k=1",
    price_cents: int | None = 500,
    position: int = 0,
    **fields: Any,
) -> dict[str, Any]:
    rows = await Link.insert(
        Link(
            creator=creator["id"],
            kind="premium",
            title=title,
            url=url,
            price_cents=price_cents,
            position=position,
            **fields,
        )
    ).returning(*Link.all_columns())
    return rows[0]


async def start_checkout(client: httpx.AsyncClient, link_id: int) -> tuple[str, str]:
    """Press Unlock (as htmx does); the unlock id and the checkout URL it was sent to."""
    r = await client.post(f"/u/{link_id}/unlock", headers=HX)
    assert r.status_code == 200, r.text
    purchase_url = r.headers["hx-redirect"]
    [unlock] = await Unlock.select(Unlock.id).where(Unlock.purchase_url == purchase_url)
    return unlock["id"], purchase_url


async def press_unlock(http: httpx.AsyncClient, link_id: int) -> tuple[str, str]:
    """Open the premium card and press Unlock as a browser running htmx does (the CSRF token
    from the card's form); the unlock's id and the checkout address it was sent to."""
    fragment = await http.get(f"/u/{link_id}", headers=HX)
    token = _CSRF.search(fragment.text)[1]
    r = await http.post(f"/u/{link_id}/unlock", headers={**HX, "x-csrftoken": token})
    assert r.status_code == 200, r.text
    [row] = await Unlock.select(Unlock.id).where(Unlock.purchase_url == r.headers["hx-redirect"])
    return row["id"], r.headers["hx-redirect"]


async def pay(
    http: httpx.AsyncClient,
    purchase_url: str,
    card: str = PAYS,
    email: str = "buyer@example.com",
    country: str = "US",
) -> httpx.Response:
    """Fill in the emulator's hosted checkout and press Pay; the unfollowed answer."""
    page = await http.get(purchase_url)
    assert page.status_code == 200, page.text
    form = {
        "email": email,
        "country": country,
        "card_number": card,
        "expiry": "12/39",
        "cvc": "123",
        **dict(_HIDDEN.findall(page.text)),
    }
    action = urljoin(purchase_url, _ACTION.search(page.text)[1])
    return await http.post(action, data=form, follow_redirects=False)


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


def local(location: str) -> str:
    """An absolute URL on the app as a path + query the test client can follow."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def signed_event(
    settings: Settings,
    event_type: str,
    data: dict[str, Any],
    *,
    webhook_id: str | None = None,
    company_id: str | None = None,
    timestamp: int | None = None,
    secret: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and its headers, signed the way Whop signs them."""
    webhook_id = webhook_id or f"msg_{secrets.token_hex(8)}"
    body = json.dumps(
        {
            "id": f"evt_{secrets.token_hex(6)}",
            "api_version": "v1",
            "type": event_type,
            "timestamp": "2026-11-26T12:00:00Z",
            "company_id": company_id,
            "data": data,
        }
    ).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    return body, webhook_headers(secret or settings.whop_webhook_secret, webhook_id, body, stamp)


async def unlock_row(unlock_id: str) -> dict[str, Any]:
    [row] = await Unlock.select().where(Unlock.id == unlock_id)
    return row


async def inbox() -> list[dict[str, Any]]:
    return await WebhookEvent.select().order_by(WebhookEvent.received_at)
