"""What a developer mints and registers: access tokens and webhook endpoints.

Access tokens let Whop's embedded payout components act for one company; they default to
an hour and may last at most three (docs/whop-contract.md §9.1), or less when the control setting
`access_token_lifetime` caps them. They are opaque here (Whop's are JWTs) and stored
hashed; the API and the elements stand-in (`elements.py`) accept them as bearer
credentials for their own company, until `expires_at`.

A webhook registered through the API gets a fresh `ws_…` secret, shown in the create
response only. It receives its company's events (and, with `child_resource_events`, those
of the company's connected companies); an empty `events` list means every event.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.config import whop_id
from app.emulator import faults, shapes, store
from app.emulator.protocol import (
    Principal,
    company_param,
    invalid,
    not_found,
    time_param,
    url_param,
    visible_company,
)

TOKEN_LIFETIME = timedelta(hours=1)
TOKEN_MAX_LIFETIME = timedelta(hours=3)


async def create_access_token(
    conn: asyncpg.Connection, principal: Principal, body: Mapping[str, Any]
) -> dict[str, Any]:
    principal.require_api_key()
    if body.get("user_id"):
        raise invalid("user_id", "the emulator mints company access tokens only")
    company = await visible_company(conn, principal, company_param(body))
    now = datetime.now(UTC)
    expires_at = time_param(body.get("expires_at"), "expires_at") or now + TOKEN_LIFETIME
    if expires_at <= now:
        raise invalid("expires_at", "must be in the future")
    if expires_at > now + TOKEN_MAX_LIFETIME + timedelta(seconds=60):
        raise invalid("expires_at", "must be at most 3 hours from now")
    if cap := (await faults.control_settings(conn)).access_token_lifetime:
        expires_at = min(expires_at, now + timedelta(seconds=cap))  # a test's short expiry
    actions = body.get("scoped_actions") or []
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise invalid("scoped_actions", "must be a list of permission names")
    token = "atk_" + secrets.token_urlsafe(32)
    await conn.execute(
        """
        INSERT INTO whop_emulator.access_token (token_hash, company_id, scoped_actions, expires_at)
        VALUES ($1, $2, $3::jsonb, $4)
        """,
        store.secret_hash(token),
        company["id"],
        store.dumps(actions),
        expires_at,
    )
    return {"token": token, "expires_at": store.iso(expires_at)}


async def create_webhook(
    conn: asyncpg.Connection, principal: Principal, body: Mapping[str, Any]
) -> dict[str, Any]:
    principal.require_api_key()
    url = url_param(body, "url")
    api_version = body.get("api_version") or "v1"
    if api_version != "v1":
        raise invalid("api_version", "the emulator sends v1 payloads only")
    events = body.get("events") or []
    if not isinstance(events, list) or not all(isinstance(e, str) and "." in e for e in events):
        raise invalid("events", "must be a list of event names such as payment.succeeded")
    enabled = body.get("enabled", True)
    child_events = body.get("child_resource_events", False)
    if not isinstance(enabled, bool) or not isinstance(child_events, bool):
        raise invalid("enabled", "enabled and child_resource_events must be true or false")
    resource = body.get("resource_id") or principal.company_id
    if not isinstance(resource, str):
        raise invalid("resource_id", "must be a company id")
    company = await visible_company(conn, principal, resource)
    row = await conn.fetchrow(
        """
        INSERT INTO whop_emulator.webhook
            (id, resource_id, url, secret, events, enabled, api_version, child_resource_events)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8) RETURNING *
        """,
        whop_id("hook_"),
        company["id"],
        url,
        "ws_" + secrets.token_hex(32),
        store.dumps(events),
        enabled,
        api_version,
        child_events,
    )
    return shapes.webhook(row, with_secret=True)


async def webhooks_query(
    conn: asyncpg.Connection, principal: Principal, params: Mapping[str, Any]
) -> tuple[str, list[Any]]:
    company_id = company_param(params, required=False) or principal.company_id
    company = await visible_company(conn, principal, company_id)
    return "SELECT * FROM whop_emulator.webhook WHERE resource_id = $1", [company["id"]]


async def delete_webhook(conn: asyncpg.Connection, principal: Principal, webhook_id: str) -> bool:
    principal.require_api_key()
    row = await conn.fetchrow("SELECT * FROM whop_emulator.webhook WHERE id = $1", webhook_id)
    if row is None:
        raise not_found("Webhook", webhook_id)
    await visible_company(conn, principal, row["resource_id"])
    await conn.execute("DELETE FROM whop_emulator.webhook WHERE id = $1", webhook_id)
    return True  # Whop answers a bare `true`
