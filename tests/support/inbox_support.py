"""Stored webhook events for the inbox tests: one whose processing asks Whop nothing, and
whether events were processed."""

from __future__ import annotations

from datetime import UTC, datetime

from app.db.tables import WebhookEvent
from app.payments.inbox import store_event
from app.whop import WebhookEvent as VerifiedEvent


async def stored(webhook_id: str, *, announce: bool = False) -> str:
    """An event whose processing asks Whop nothing (so no Whop client is needed), stored as
    a delivery would store it (`announce`: as a process with INBOX_WORKERS=0 does)."""
    event = VerifiedEvent(
        webhook_id=webhook_id,
        type="membership.activated",
        company_id=None,
        data={"id": "mem_1"},
        payload={"type": "membership.activated", "data": {"id": "mem_1"}},
        signed_at=datetime.now(UTC),
    )
    assert await store_event(event, announce=announce)
    return webhook_id


async def processed(webhook_id: str) -> bool:
    rows = await WebhookEvent.select(WebhookEvent.processed_at).where(WebhookEvent.id == webhook_id)
    return bool(rows) and rows[0]["processed_at"] is not None


async def all_processed(ids: list[str]) -> bool:
    return all([await processed(i) for i in ids])
