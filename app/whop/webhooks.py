"""Whop's webhook signatures (Standard Webhooks, keyed Whop's way), verified in one function.

Whop HMACs `"{webhook-id}.{webhook-timestamp}.{raw body}"` with SHA-256, keyed by the UTF-8
bytes of the whole secret, prefix included, whichever prefix Whop showed (`ws_…` and
`whsec_…` both occur) — not base64-decoded as the `standardwebhooks` library does with
its keys. The header `webhook-signature` is a
space-separated list of `v1,<base64>` entries; any one matching is enough.

`verify_webhook` raises `WebhookVerificationError` for *every* bad input — a missing header,
a malformed signature list, a stale timestamp, a tampered body — so the receiver answers a
4xx and never a 500 (the reference library lets `binascii.Error` escape for `v1,!!!`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh webhook from Whop."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    webhook_id: str  # the `webhook-id` header: stable across retries, the dedup key
    type: str  # "payment.succeeded", ...
    company_id: str | None
    data: dict[str, Any]
    payload: dict[str, Any]  # the whole envelope, as received
    signed_at: datetime  # the `webhook-timestamp` of this attempt


def _signature(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value Whop sends: `v1,<base64 HMAC-SHA256>`."""
    return "v1," + base64.b64encode(_signature(secret, msg_id, timestamp, body)).decode()


def webhook_headers(
    secret: str, msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt of `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign_webhook(secret, msg_id, ts, body),
        "content-type": "application/json",
    }


def _not_json(constant: str) -> None:
    """NaN and Infinity: Python's json accepts them, JSON (and PostgreSQL's jsonb) do not."""
    raise ValueError(f"{constant} is not JSON")


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> WebhookEvent:
    """The verified event, or `WebhookVerificationError` — for every kind of bad input."""
    try:
        return _verify(secret, headers, body, time.time() if now is None else now, tolerance)
    except WebhookVerificationError:
        raise
    except Exception as exc:  # whatever a hostile request trips over is still a bad request
        raise WebhookVerificationError("malformed webhook") from exc


def _verify(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance: int
) -> WebhookEvent:
    if not isinstance(secret, str) or not secret:
        raise WebhookVerificationError("no webhook secret configured")
    if not isinstance(body, bytes):
        raise WebhookVerificationError("the body must be the raw bytes received")
    lowered = {str(k).lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not a Unix time")
    sent_at = int(timestamp)
    if abs(now - sent_at) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")

    expected = _signature(secret, msg_id, timestamp, body)
    matched = False
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue  # other schemes (v1a, …) and junk entries are not ours to check
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Compare every entry (no early exit), each in constant time.
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise WebhookVerificationError("no signature matches")

    try:
        payload = json.loads(body, parse_constant=_not_json)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise WebhookVerificationError("the body is not a Whop event")
    data = payload.get("data")
    company_id = payload.get("company_id")
    return WebhookEvent(
        webhook_id=msg_id,
        type=payload["type"],
        company_id=company_id if isinstance(company_id, str) else None,
        data=data if isinstance(data, dict) else {},
        payload=payload,
        signed_at=datetime.fromtimestamp(sent_at, UTC),
    )
