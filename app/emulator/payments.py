"""Plans, checkout configurations, payments and refunds at the emulated Whop.

A checkout configuration wraps a plan (inline or by id) with metadata and a redirect URL;
its `purchase_url` opens the hosted checkout page (`hosted.py`). Paying there creates a
`pay_…` payment on the plan's company that inherits the configuration's metadata, moves the
ledger, and fires `payment.succeeded` or `payment.failed`. A refund returns part or all of
a paid payment and fires `refund.created` then `refund.updated`; the payment keeps
`status = paid` and its substatus becomes `refunded` or `partially_refunded`.

Whop is the merchant of record: a buyer from a country with a tax rate (the control setting
`tax_rates`) pays the plan's price plus that tax. `total` is what was charged, `tax_amount`
the tax in it; the company is credited the price before tax. A refund (of `total`, in part
or in full) returns the tax in proportion (`tax_refunded_amount`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
from litestar import Request

from app.config import Settings, whop_id
from app.emulator import delivery, faults, identity, ledger, shapes, store
from app.emulator.companies import metadata_param
from app.emulator.protocol import (
    ApiError,
    Principal,
    amount_param,
    company_param,
    currency_param,
    invalid,
    list_param,
    missing,
    not_found,
    return_url_param,
    text,
    time_param,
    visible_company,
)
from app.whop.money import currency_exponent

# The payment's `user` is a Whop user (its name and username; none for payments made before
# every guest became one).
PAYMENT_SELECT = """
    SELECT p.*, c.title AS company_title, u.name AS user_name, u.username AS user_username
      FROM whop_emulator.payment p JOIN whop_emulator.company c ON c.id = p.company_id
      LEFT JOIN whop_emulator.whop_user u ON u.id = p.user_id
"""


@dataclass(frozen=True, slots=True)
class SandboxCard:
    brand: str
    decline: str | None  # the failure message, or None when the card pays


# docs/whop-contract.md §9.5: 4242… succeeds, 4000 0000 0000 0002 declines.
TEST_CARDS = {
    "4242424242424242": SandboxCard("visa", None),
    "5555555555554444": SandboxCard("mastercard", None),
    "4000000000000002": SandboxCard("visa", "Your card was declined."),
    "4000000000009995": SandboxCard("visa", "Your card has insufficient funds."),
}


# --- checkout configurations --------------------------------------------------------------


async def _create_plan(
    conn: asyncpg.Connection, principal: Principal, plan: Mapping[str, Any]
) -> asyncpg.Record:
    company = await visible_company(conn, principal, company_param(plan))
    currency = currency_param(plan.get("currency"), "plan.currency")
    plan_type = plan.get("plan_type") or "one_time"
    if plan_type != "one_time":
        raise invalid("plan.plan_type", "the emulator sells one_time plans only")
    price = amount_param(plan.get("initial_price"), "plan.initial_price", currency)
    fee = amount_param(
        plan.get("application_fee_amount"),
        "plan.application_fee_amount",
        currency,
        required=False,
    )
    if fee is not None:
        if company["parent_id"] is None:
            raise invalid(
                "plan.application_fee_amount",
                "is only valid for connected accounts with a parent company",
            )
        if fee >= price:
            raise invalid(
                "plan.application_fee_amount", "must be less than the total payment amount"
            )
    title = plan.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > 200):
        raise invalid("plan.title", "must be a string of at most 200 characters")
    return await conn.fetchrow(
        """
        INSERT INTO whop_emulator.plan (id, company_id, currency, plan_type, release_method,
                                        visibility, title, initial_price, application_fee_amount)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *
        """,
        whop_id("plan_", 13),
        company["id"],
        currency,
        plan_type,
        plan.get("release_method") or "buy_now",
        plan.get("visibility") or "visible",
        title,
        price,
        fee,
    )


async def create_checkout_configuration(
    conn: asyncpg.Connection, principal: Principal, body: Mapping[str, Any], app_url: str
) -> dict[str, Any]:
    principal.require_api_key()
    mode = body.get("mode") or "payment"
    if mode != "payment":
        raise invalid("mode", "the emulator supports mode=payment only")
    if isinstance(body.get("plan"), dict):
        plan = await _create_plan(conn, principal, body["plan"])
    elif plan_id := text(body, "plan_id", required=False):
        plan = await conn.fetchrow("SELECT * FROM whop_emulator.plan WHERE id = $1", plan_id)
        if plan is None:
            raise not_found("Plan", plan_id)
        await visible_company(conn, principal, plan["company_id"])
    elif body.get("plan") is not None:
        raise invalid("plan", "must be an object describing the plan")
    else:
        raise missing("plan")
    row = await conn.fetchrow(
        """
        INSERT INTO whop_emulator.checkout_configuration
            (id, company_id, plan_id, mode, metadata, redirect_url)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING *
        """,
        whop_id("ch_", 15),
        plan["company_id"],
        plan["id"],
        mode,
        store.dumps(metadata_param(body)),
        return_url_param(body, "redirect_url", own_origin=app_url, required=False),
    )
    return shapes.checkout_configuration(row, plan, app_url)


async def retrieve_checkout_configuration(
    conn: asyncpg.Connection, principal: Principal, checkout_id: str, app_url: str
) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT * FROM whop_emulator.checkout_configuration WHERE id = $1", checkout_id
    )
    if row is None:
        raise not_found("Checkout configuration", checkout_id)
    await visible_company(conn, principal, row["company_id"])
    plan = await conn.fetchrow("SELECT * FROM whop_emulator.plan WHERE id = $1", row["plan_id"])
    return shapes.checkout_configuration(row, plan, app_url)


# --- the hosted checkout page's side -------------------------------------------------------


async def checkout_session(
    conn: asyncpg.Connection, plan_id: str, session_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT ch.id, ch.company_id, ch.metadata, ch.redirect_url, p.id AS plan_id, p.title,
               p.currency, p.initial_price, p.application_fee_amount, c.title AS company_title,
               c.parent_id
          FROM whop_emulator.checkout_configuration ch
          JOIN whop_emulator.plan p ON p.id = ch.plan_id
          JOIN whop_emulator.company c ON c.id = ch.company_id
         WHERE ch.id = $1 AND p.id = $2
        """,
        session_id,
        plan_id,
    )


def in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half up to the currency's smallest unit."""
    return amount.quantize(Decimal(1).scaleb(-currency_exponent(currency)), ROUND_HALF_UP)


def card_digits(number: str) -> str:
    return "".join(ch for ch in number if ch not in " -")


async def pay(
    conn: asyncpg.Connection,
    settings: Settings,
    session: asyncpg.Record,
    *,
    email: str,
    card: SandboxCard,
    card_number: str,
    attempt_token: str,
    country: str | None = None,
) -> asyncpg.Record:
    """Charge the test card once per checkout attempt (a resubmitted form is the same),
    with the tax of the buyer's `country` on top of the price. It belongs to the Whop user
    who owns the buyer's email, however it was typed (a guest's first payment makes them)."""
    paid = card.decline is None
    buyer = await identity.user_for_email(conn, email)
    price, currency = session["initial_price"], session["currency"]
    rate = (await faults.control_settings(conn)).tax_rate(country)
    tax = in_minor_units(price * Decimal(str(rate)) / 100, currency)
    inserted = await conn.fetchval(
        """
        INSERT INTO whop_emulator.payment
            (id, company_id, plan_id, checkout_configuration_id, attempt_token, status,
             substatus, currency, total, application_fee, metadata, user_id, user_email,
             card_brand, card_last4, failure_message, paid_at, tax_amount)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb,
                $12, $13, $14, $15, $16, CASE WHEN $6 = 'paid' THEN clock_timestamp() END, $17)
        ON CONFLICT (attempt_token) DO NOTHING
        RETURNING id
        """,
        whop_id("pay_"),
        session["company_id"],
        session["plan_id"],
        session["id"],
        attempt_token,
        "paid" if paid else "open",
        "succeeded" if paid else "failed",
        currency,
        price + tax,
        session["application_fee_amount"],
        session["metadata"],
        buyer["id"],
        buyer["email"],
        card.brand,
        card_number[-4:],
        card.decline,
        tax,
    )
    if inserted is None:  # the same form posted twice: the first answer stands
        return await conn.fetchrow(PAYMENT_SELECT + " WHERE p.attempt_token = $1", attempt_token)
    row = await conn.fetchrow(PAYMENT_SELECT + " WHERE p.id = $1", inserted)
    if paid:
        fee, currency = row["application_fee"], row["currency"]
        subtotal = row["total"] - row["tax_amount"]  # the tax is Whop's to remit
        await ledger.record(conn, row["company_id"], currency, subtotal, "payment", row["id"])
        if fee is not None:
            await ledger.record(
                conn, row["company_id"], currency, -fee, "application_fee", row["id"]
            )
            await ledger.record(
                conn, session["parent_id"], currency, fee, "application_fee", row["id"]
            )
    event = "payment.succeeded" if paid else "payment.failed"
    await delivery.emit(conn, settings, event, row["company_id"], shapes.payment(row))
    return row


# --- payments and refunds over the API -----------------------------------------------------


async def retrieve_payment(
    conn: asyncpg.Connection, principal: Principal, payment_id: str
) -> dict[str, Any]:
    row = await conn.fetchrow(PAYMENT_SELECT + " WHERE p.id = $1", payment_id)
    if row is None:
        raise not_found("Payment", payment_id)
    await visible_company(conn, principal, row["company_id"])
    return shapes.payment(row)


async def payments_query(
    conn: asyncpg.Connection, principal: Principal, request: Request
) -> tuple[str, list[Any]]:
    params = request.query_params
    company = await visible_company(conn, principal, company_param(params))
    order, direction = params.get("order"), params.get("direction")
    if order not in (None, "created_at") or direction not in (None, "desc"):
        raise invalid("order", "the emulator lists newest first only (created_at, desc)")
    args: list[Any] = [company["id"]]
    where = ["p.company_id = $1"]
    for name, column in (
        ("statuses", "p.status"),
        ("substatuses", "p.substatus"),
        ("plan_ids", "p.plan_id"),
        ("checkout_configuration_ids", "p.checkout_configuration_id"),
        ("currencies", "p.currency"),
    ):
        if values := list_param(request, name):
            args.append(values)
            where.append(f"{column} = ANY(${len(args)}::text[])")
    for name, column, op in (
        ("created_after", "p.created_at", ">"),
        ("created_before", "p.created_at", "<"),
        ("updated_after", "p.updated_at", ">"),
        ("updated_before", "p.updated_at", "<"),
    ):
        if moment := time_param(params.get(name), name):
            args.append(moment)
            where.append(f"{column} {op} ${len(args)}")
    return PAYMENT_SELECT + " WHERE " + " AND ".join(where), args


async def refund_payment(
    conn: asyncpg.Connection,
    settings: Settings,
    principal: Principal,
    payment_id: str,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    principal.require_api_key()
    row = await conn.fetchrow(PAYMENT_SELECT + " WHERE p.id = $1 FOR UPDATE OF p", payment_id)
    if row is None:
        raise not_found("Payment", payment_id)
    await visible_company(conn, principal, row["company_id"])
    if row["status"] != "paid":
        raise ApiError(
            422,
            f"Payment {payment_id} is {row['status']}, not paid; only paid payments can be "
            "refunded",
            code="payment_not_refundable",
        )
    currency = row["currency"]
    remaining: Decimal = row["total"] - row["refunded_amount"]
    if remaining <= 0:
        raise ApiError(
            422, f"Payment {payment_id} is already fully refunded", code="payment_not_refundable"
        )
    amount = amount_param(body.get("partial_amount"), "partial_amount", currency, required=False)
    if amount is None:
        amount = remaining
    elif amount > remaining:
        raise invalid("partial_amount", f"exceeds the refundable {remaining} {currency}")
    # The tax goes back in proportion; the last refund takes whatever tax is left.
    tax_left: Decimal = row["tax_amount"] - row["tax_refunded_amount"]
    tax = (
        tax_left
        if amount == remaining
        else in_minor_units(amount * row["tax_amount"] / row["total"], currency)
    )
    tax = min(tax, tax_left)
    refund = await conn.fetchrow(
        "INSERT INTO whop_emulator.refund (id, payment_id, amount, currency, status)"
        " VALUES ($1, $2, $3, $4, 'pending') RETURNING *",
        whop_id("rf_"),
        payment_id,
        amount,
        currency,
    )
    company_id = row["company_id"]
    await delivery.emit(
        conn, settings, "refund.created", company_id, shapes.refund(refund, shapes.payment(row))
    )
    await conn.execute(
        """
        UPDATE whop_emulator.payment
           SET refunded_amount = refunded_amount + $2,
               tax_refunded_amount = tax_refunded_amount + $3,
               substatus = CASE WHEN refunded_amount + $2 >= total THEN 'refunded'
                                ELSE 'partially_refunded' END,
               refunded_at = clock_timestamp(), updated_at = clock_timestamp()
         WHERE id = $1
        """,
        payment_id,
        amount,
        tax,
    )
    refund = await conn.fetchrow(
        "UPDATE whop_emulator.refund SET status = 'succeeded', updated_at = clock_timestamp()"
        " WHERE id = $1 RETURNING *",
        refund["id"],
    )
    await ledger.record(conn, company_id, currency, tax - amount, "refund", refund["id"])
    row = await conn.fetchrow(PAYMENT_SELECT + " WHERE p.id = $1", payment_id)
    payment = shapes.payment(row)
    await delivery.emit(
        conn, settings, "refund.updated", company_id, shapes.refund(refund, payment)
    )
    return payment


async def refunds_query(
    conn: asyncpg.Connection, principal: Principal, request: Request
) -> tuple[str, list[Any], dict[str, Any]]:
    """The refunds of `?payment_id=`, and that payment (each refund embeds it)."""
    payment_id = request.query_params.get("payment_id")
    if not payment_id:
        raise missing("payment_id")
    payment = await retrieve_payment(conn, principal, payment_id)
    query = "SELECT * FROM whop_emulator.refund WHERE payment_id = $1"
    return query, [payment_id], payment


async def retrieve_refund(
    conn: asyncpg.Connection, principal: Principal, refund_id: str
) -> dict[str, Any]:
    refund = await conn.fetchrow("SELECT * FROM whop_emulator.refund WHERE id = $1", refund_id)
    if refund is None:
        raise not_found("Refund", refund_id)
    payment = await retrieve_payment(conn, principal, refund["payment_id"])
    return shapes.refund(refund, payment)
