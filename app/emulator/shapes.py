"""Whop's JSON objects, built from the emulator's rows (legacy shapes, whop-api.md §3–§9).

Amounts are major-unit numbers, as Whop sends them; timestamps are ISO 8601 UTC with a Z.
Only fields Whop documents appear, with the documented nulls where the emulator has nothing.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from asyncpg import Record

from app.emulator.store import iso, loads


def money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def route(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "company"


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
        "owner_user": None,
        "route": route(row["title"]),
        "logo": None,
        "published_reviews_count": 0,
        "metadata": loads(row["metadata"]),
        "social_links": [],
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
    return {
        "id": row["id"],
        "title": row["title"],
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
        "company": {"id": row["company_id"]},
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
        "created_at": iso(row["created_at"]),
    }


# Payment rows are selected with their company's title (see payments.PAYMENT_SELECT).
def payment(row: Record) -> dict[str, Any]:
    total: Decimal = row["total"]  # what the buyer was charged, tax included
    tax: Decimal = row["tax_amount"]
    subtotal = total - tax
    fee: Decimal | None = row["application_fee"]
    refunded: Decimal = row["refunded_amount"]
    paid = row["status"] == "paid"
    email = row["user_email"]
    name = email.split("@", 1)[0]
    return {
        "id": row["id"],
        "status": row["status"],
        "substatus": row["substatus"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "paid_at": iso(row["paid_at"]),
        "refunded_at": iso(row["refunded_at"]),
        "currency": row["currency"],
        "total": money(total),
        "subtotal": money(subtotal),
        "usd_total": money(total) if row["currency"] == "usd" else None,
        "amount_after_fees": money(subtotal - (fee or 0)),
        "settlement_amount": money(subtotal),
        "settlement_currency": row["currency"],
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
        "user": {"id": row["user_id"], "name": name, "username": name, "email": email},
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
    }


def refund(row: Record, payment_json: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "amount": money(row["amount"]),
        "currency": row["currency"],
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "provider": "whop",
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
    return {
        "id": row["id"],
        "amount": money(row["amount"]),
        "currency": row["currency"],
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "company": {"id": row["company_id"]},
        "payout_method": {"id": row["payout_method_id"]},
    }
