"""Whop's JSON objects, built from the emulator's rows (legacy shapes, docs/whop-contract.md §3–§9).

Amounts are major-unit numbers, as Whop sends them; timestamps are ISO 8601 UTC with a Z.
Each object carries every field of its model in Whop's own SDK (whop-sdk 0.0.40, which a
client of the emulator may parse it with), with the model's nulls where the emulator has
nothing to say, so strict parsing passes; the few fields outside those models are noted
where they are made.

Tax: Whop, the merchant of record, adds it on top of the price (`tax_behavior` exclusive).
`subtotal` is the price, `tax_amount` the tax, and `total` — like `settlement_amount`, what
the buyer was charged — their sum.
"""

from __future__ import annotations

import hashlib
import re
import string
from decimal import Decimal
from typing import Any

from asyncpg import Record

from app.emulator.store import iso, loads


def money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def route(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "company"


def person(email: str) -> tuple[str, str]:
    """(name, username) Whop shows for someone known only by an email: its local part, and
    that part as a username may hold it."""
    local = email.split("@", 1)[0]
    return local[:60], re.sub(r"[^a-z0-9_.]", "_", local.lower())[:24].ljust(3, "_")


def stable_id(prefix: str, key: str, length: int = 13) -> str:
    """An id shaped like Whop's, the same every time it is made from `key`."""
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:12], "big")
    alphabet = string.ascii_letters + string.digits
    chars = []
    for _ in range(length):
        number, rest = divmod(number, len(alphabet))
        chars.append(alphabet[rest])
    return prefix + "".join(chars)


def owner_user(row: Record) -> dict[str, Any]:
    """Whop's model requires a company's owner. The emulator keeps none, so it names the
    person at a connected company's email as it would a guest with that email (`person`),
    and the platform's owner after the platform; the id comes from the email (or the
    company), so every read agrees."""
    email = row["email"]
    if email:
        name, username = person(email)
        key = email.strip().lower()
    else:
        name, key = row["title"], row["id"]
        username = route(row["title"]).replace("-", "_")[:30].ljust(3, "_")
    return {"id": stable_id("user_", "owner:" + key), "name": name, "username": username}


def company(row: Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "description": None,
        "verified": row["kyc_status"] == "connected",
        "send_customer_emails": True,
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "member_count": 0,
        "owner_user": owner_user(row),
        "route": route(row["title"]),
        "logo": None,
        "published_reviews_count": 0,
        "metadata": loads(row["metadata"]),
        "social_links": [],
        "affiliate_instructions": None,
        "featured_affiliate_product": None,
        "target_audience": None,
    }


def payout_method(row: Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "created_at": iso(row["created_at"]),
        "currency": row["currency"],
        "is_default": row["is_default"],
        "nickname": row["nickname"],
        "account_reference": row["account_reference"],
        "institution_name": row["institution_name"],
        "company": {"id": row["company_id"]},
        "destination": loads(row["destination"]),
    }


def plan(row: Record) -> dict[str, Any]:
    """The plan as a checkout configuration embeds it."""
    return {
        "id": row["id"],
        "visibility": row["visibility"],
        "plan_type": row["plan_type"],
        "release_method": row["release_method"],
        "currency": row["currency"],
        "billing_period": None,
        "expiration_days": None,
        "initial_price": money(row["initial_price"]),
        "renewal_price": money(row["renewal_price"]),
        "trial_period_days": None,
        "adaptive_pricing_enabled": False,
        "three_ds_level": None,
    }


def purchase_url(app_url: str, plan_id: str, checkout_id: str) -> str:
    return f"{app_url}/_whop/checkout/{plan_id}?session={checkout_id}"


def checkout_configuration(row: Record, plan_row: Record, app_url: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "company_id": row["company_id"],
        "mode": row["mode"],
        "plan": plan(plan_row),
        "affiliate_code": None,
        "allow_promo_codes": True,
        "currency": None,
        "metadata": loads(row["metadata"]),
        "redirect_url": row["redirect_url"],
        "purchase_url": purchase_url(app_url, plan_row["id"], row["id"]),
        "payment_method_configuration": None,
        "created_at": iso(row["created_at"]),  # not in the legacy model; the newer one has it
    }


# Payment rows are selected with their company's title and their user's name and username
# (see payments.PAYMENT_SELECT).
def payment(row: Record) -> dict[str, Any]:
    total: Decimal = row["total"]  # what the buyer was charged, tax included
    tax: Decimal = row["tax_amount"]
    subtotal = total - tax
    fee: Decimal | None = row["application_fee"]
    refunded: Decimal = row["refunded_amount"]
    paid = row["status"] == "paid"
    email = row["user_email"]
    guest_name, guest_username = person(email)
    return {
        "id": row["id"],
        "status": row["status"],
        "substatus": row["substatus"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "paid_at": iso(row["paid_at"]),
        "refunded_at": iso(row["refunded_at"]),
        "last_payment_attempt": iso(row["created_at"]),  # one attempt per payment here
        "next_payment_attempt": None,
        "dispute_alerted_at": None,
        "currency": row["currency"],
        "total": money(total),
        "subtotal": money(subtotal),
        "usd_total": money(total) if row["currency"] == "usd" else None,
        "amount_after_fees": money(subtotal - (fee or 0)),
        "settlement_amount": money(total),
        "settlement_currency": row["currency"],
        "settlement_exchange_rate": None,
        "tax_amount": money(tax),
        "tax_behavior": "exclusive" if tax else None,
        "tax_refunded_amount": money(row["tax_refunded_amount"]),
        "refunded_amount": money(refunded),
        "metadata": loads(row["metadata"]),
        "company": {
            "id": row["company_id"],
            "title": row["company_title"],
            "route": route(row["company_title"]),
        },
        "user": {
            "id": row["user_id"],
            "name": row["user_name"] or guest_name,
            "username": row["user_username"] or guest_username,
            "email": email,
        },
        "billing_address": None,
        "membership": None,
        "member": None,
        "plan": {"id": row["plan_id"], "internal_notes": None, "metadata": None},
        "product": None,
        "promo_code": None,
        "application_fee": (
            {
                "id": "apfee_" + row["id"].removeprefix("pay_"),
                "amount": money(fee),
                "amount_captured": money(fee) if paid else 0.0,
                "amount_refunded": 0.0,
                "currency": row["currency"],
                "created_at": iso(row["created_at"]),
            }
            if fee is not None
            else None
        ),
        "checkout_configuration_id": row["checkout_configuration_id"],
        "billing_reason": "one_time",
        "payment_method_type": "card",
        "payment_method": None,  # the card is not kept for another charge
        "card_brand": row["card_brand"],
        "card_last4": row["card_last4"],
        "failure_message": row["failure_message"],
        "payments_failed": 0 if paid else 1,
        "refundable": paid and refunded < total,
        "retryable": False,
        "voidable": False,
        "auto_refunded": False,
        "disputes": [],
        "resolutions": [],
        "financing_installments_count": None,
        "financing_transactions": [],
    }


def refund(row: Record, payment_json: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "amount": money(row["amount"]),
        "currency": row["currency"],
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "provider": "stripe",  # Whop names the processor; test cards stand for card payments
        "provider_created_at": iso(row["created_at"]),
        "reference_status": None,
        "reference_type": None,
        "reference_value": None,
        "payment": payment_json,
    }


def webhook(row: Record, *, with_secret: bool) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "enabled": row["enabled"],
        "events": loads(row["events"]),
        "testable_events": [],
        "resource_id": row["resource_id"],
        "api_version": row["api_version"],
        "child_resource_events": row["child_resource_events"],
        "consecutive_failures": 0,
        "created_at": iso(row["created_at"]),
        "webhook_secret": row["secret"] if with_secret else None,
    }


def withdrawal(row: Record) -> dict[str, Any]:
    """A withdrawal to the company's default payout method, free and standard speed."""
    return {
        "id": row["id"],
        "amount": money(row["amount"]),
        "currency": row["currency"],
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "speed": "standard",
        "fee_amount": 0.0,
        "fee_type": None,
        "markup_fee": 0.0,
        "ledger_account": {
            "id": "ldgr_" + row["company_id"].removeprefix("biz_"),
            "company_id": row["company_id"],
        },
        "payout_token": None,
        "error_code": None,
        "error_message": None,
        "estimated_availability": None,
        "trace_code": None,
        # Not in Whop's model: the method it went to, which the elements stand-in shows.
        "payout_method": {"id": row["payout_method_id"]},
    }
