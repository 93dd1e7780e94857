"""The webhook inbox: every Whop event is stored first, then processed until it succeeds.

`receive_webhook` is the whole of `/webhooks/whop`: verify the signature (every bad input is
a 4xx, never a 5xx), store the event under its `webhook-id` (`ON CONFLICT DO NOTHING`: a
redelivery is recognised), then process it. Processing asks Whop what the event is about
(with no transaction open), then claims the row with `FOR UPDATE SKIP LOCKED` and marks it
processed in the same transaction as the change it makes, so:

- an event that was stored but not processed (the process crashed, Whop's API was down) is
  processed by its next delivery, or by `drain_inbox` (the background drainer and
  `linkmint replay-webhooks`) — it is never lost behind its own dedup key;
- two deliveries of one event at once process it once: the second skips the locked row;
- a failure rolls the change back and records `attempts` and `last_error`; the drainer
  retries a bounded number of times, after which the operator replays it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app.db.tables import WebhookEvent
from app.payments import metrics
from app.payments.convergence import apply_payment, unknown_payment
from app.whop import WebhookEvent as VerifiedEvent
from app.whop import WebhookVerificationError, WhopClient, WhopNotFound, verify_webhook

log = logging.getLogger("app.payments.inbox")

MAX_BODY_BYTES = 256 * 1024  # Whop's events are a few kB; anything near this is not Whop
MAX_ATTEMPTS = 20  # the drainer's attempts per event; `linkmint replay-webhooks` ignores it
DRAIN_MIN_AGE = timedelta(seconds=30)  # leave fresh events to their own delivery and retries

PAYMENT_EVENTS = frozenset({"payment.succeeded", "payment.failed"})
REFUND_EVENTS = frozenset({"refund.created", "refund.updated"})
PAYOUT_EVENTS = frozenset(
    {"payout_method.created", "verification.succeeded", "payout_account.status_updated"}
)

# What processing an event will change, once its row is claimed; returns a word for metrics.
Change = Callable[[], Awaitable[str]]

_STORE_SQL = """
INSERT INTO webhook_event (id, type, payload) VALUES ({}, {}, {}::jsonb)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""
_UNPROCESSED_SQL = """
SELECT type, payload FROM webhook_event WHERE id = {} AND processed_at IS NULL
"""
_CLAIM_SQL = """
SELECT id FROM webhook_event
 WHERE id = {} AND processed_at IS NULL
   FOR UPDATE SKIP LOCKED
"""
_PROCESSED_SQL = """
UPDATE webhook_event SET processed_at = now(), attempts = attempts + 1, last_error = NULL
 WHERE id = {}
"""
_FAILED_SQL = """
UPDATE webhook_event SET attempts = attempts + 1, last_error = {}
 WHERE id = {} AND processed_at IS NULL
"""
_DUE_SQL = """
SELECT id FROM webhook_event
 WHERE processed_at IS NULL AND received_at < now() - {}::interval
   AND attempts < {} AND NOT (id = ANY({}::text[]))
 ORDER BY received_at
 LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to one delivery: its HTTP status and a word on what happened."""

    status: int
    text: str


class EventError(ValueError):
    """A genuine event we cannot act on (no payment id in it): processed, logged, dropped."""


async def receive_webhook(
    whop: WhopClient, secret: str, headers: Mapping[str, str], body: bytes
) -> Receipt:
    try:
        event = verify_webhook(secret, headers, body)
    except WebhookVerificationError as exc:
        metrics.SIGNATURE_FAILURES.inc()
        log.warning("refused a webhook: %s", exc)
        return Receipt(400, "invalid webhook\n")
    odd = "\x00" in event.webhook_id + event.type  # (PostgreSQL text cannot hold NUL)
    if len(event.webhook_id) > 255 or len(event.type) > 100 or odd:
        metrics.SIGNATURE_FAILURES.inc()
        return Receipt(400, "invalid webhook\n")
    metrics.WEBHOOK_LATENCY.observe(max(0.0, time.time() - event.signed_at.timestamp()))

    if not await store_event(event):
        metrics.DUPLICATE_DELIVERIES.inc()
    result = await process_event(whop, event.webhook_id)
    if result == "failed":
        # Stored and retried by the drainer: Whop's own retries would add nothing.
        return Receipt(202, "stored; processing will be retried\n")
    return Receipt(200, f"{result}\n")


def _storable(value: Any) -> Any:
    """The payload without NUL characters, which PostgreSQL's jsonb cannot hold."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


async def store_event(event: VerifiedEvent) -> bool:
    """Put the event in the inbox; False when its webhook-id is already there."""
    payload = json.dumps(_storable(event.payload), separators=(",", ":"))
    stored = await WebhookEvent.raw(_STORE_SQL, event.webhook_id, event.type, payload)
    return bool(stored)


async def process_event(whop: WhopClient, event_id: str) -> str:
    """Process one stored event if nobody has (or is): "processed", "skipped" or "failed".

    Whop is asked first, with no transaction open; then the row is claimed (FOR UPDATE
    SKIP LOCKED) and the change and the row's `processed_at` are committed together.
    """
    rows = await WebhookEvent.raw(_UNPROCESSED_SQL, event_id)
    if not rows:
        return "skipped"  # already processed
    event_type = rows[0]["type"]
    try:
        change = await prepare_event(whop, event_type, _payload(rows[0]["payload"]))
        async with WebhookEvent._meta.db.transaction():
            if not await WebhookEvent.raw(_CLAIM_SQL, event_id):
                return "skipped"  # processed meanwhile, or being processed right now
            result = await change()
            await WebhookEvent.raw(_PROCESSED_SQL, event_id)
    except Exception as exc:  # noqa: BLE001 (any failure leaves the event for a retry)
        await WebhookEvent.raw(_FAILED_SQL, f"{type(exc).__name__}: {exc}"[:2000], event_id)
        log.warning("webhook event %s not processed yet: %s", event_id, exc)
        metrics.WEBHOOK_EVENTS.labels(event_type, "failed").inc()
        return "failed"
    metrics.WEBHOOK_EVENTS.labels(event_type, result).inc()
    return "processed"


def _payload(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):  # jsonb comes back as text from raw queries
        raw = json.loads(raw)
    return raw if isinstance(raw, dict) else {}


def _id_of(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _done(result: str) -> Change:
    async def nothing_to_change() -> str:
        return result

    return nothing_to_change


async def prepare_event(whop: WhopClient, event_type: str, payload: dict[str, Any]) -> Change:
    """Ask Whop what the event is about; returns the change to make (a word for the metrics
    when called). Raises when Whop cannot answer, to be retried later."""
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    if event_type in PAYMENT_EVENTS:
        payment_id = _id_of(data.get("id"))
    elif event_type in REFUND_EVENTS:
        payment = data.get("payment")
        payment_id = _id_of(payment.get("id") if isinstance(payment, dict) else None)
        payment_id = payment_id or _id_of(data.get("payment_id"))
    elif event_type in PAYOUT_EVENTS:
        company_id = _id_of(payload.get("company_id")) or _id_of(data.get("company_id"))
        if company_id is None:
            log.warning("%s event without a company id; nothing to re-check", event_type)
            return _done("no_company")
        from app.payouts.service import refresh_payout_status  # the payouts room owns this

        # Sets the creator's flag from Whop's answer: the same whenever it is repeated.
        enabled = await refresh_payout_status(whop, company_id)
        return _done("payout_enabled" if enabled else "payout_not_ready")
    else:
        return _done("ignored")
    if payment_id is None:
        log.warning("%s event without a payment id; nothing to converge", event_type)
        return _done("no_payment")
    try:
        found = await whop.retrieve_payment(payment_id)
    except WhopNotFound:
        return _done(unknown_payment(payment_id, "webhook").result)

    async def converge() -> str:
        return (await apply_payment(whop, found, "webhook")).result

    return converge


@dataclass
class DrainReport:
    processed: int = 0
    failed: int = 0
    skipped: int = 0
    tried: list[str] = field(default_factory=list)


async def drain_inbox(
    whop: WhopClient,
    *,
    min_age: timedelta = DRAIN_MIN_AGE,
    max_attempts: int | None = MAX_ATTEMPTS,
    limit: int = 200,
) -> DrainReport:
    """Process stored events that nobody processed, oldest first, each at most once per run.

    Safe to run in several processes at once: `process_event` claims each row with SKIP
    LOCKED. `max_attempts=None` (replay) also retries events that used up their attempts.
    """
    report = DrainReport()
    attempts_cap = max_attempts if max_attempts is not None else 2**31 - 1
    while len(report.tried) < limit:
        due = await WebhookEvent.raw(_DUE_SQL, min_age, attempts_cap, report.tried)
        if not due:
            break
        event_id = due[0]["id"]
        report.tried.append(event_id)
        result = await process_event(whop, event_id)
        if result == "processed":
            report.processed += 1
        elif result == "failed":
            report.failed += 1
        else:
            report.skipped += 1
    return report
