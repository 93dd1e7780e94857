"""The sweep benchmark's data set: a month of sales, in our tables and in Whop's records.

Every creator sells one premium link through a connected company at the emulated Whop. Its
unlocks arrive evenly over the refund window and end as they would in production: most
COMPLETED by a paid payment, some REFUNDED (the payment refunded at Whop), some FAILED (a
declined card), some EXPIRED (nobody paid within the hour) and, in the last hour, some
still PENDING. Each one has its checkout configuration at Whop, carrying
`{"unlock_id": …}` as the app's own checkouts do, and its payment inherits that metadata.
Both sides agree, so a sweep of the whole window finds everything in step.

`trickle` is what happens at Whop in the next few minutes while the redirects and webhooks
are lost: new paid payments, refunds made in Whop's dashboard, second charges.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from app.payments.reconcile import EXPIRE_AFTER
from bench.dataset import FIRST, PREMIUM, copy_rows, make_id, make_token, to_major, token_hash

CURRENCY = "usd"
EMULATOR = "whop_emulator"  # the emulated Whop's schema
PRICES = (199, 300, 499, 500, 999, 1500, 2500)
# How unlocks end, by weight; the young ones not yet paid or expired are PENDING.
ENDINGS = (("COMPLETED", 88), ("REFUNDED", 2), ("FAILED", 2), ("EXPIRED", 8))
SETTLED = timedelta(minutes=1)  # nothing is paid or refunded later than this before `now`


@dataclass(frozen=True, slots=True)
class Seller:
    """A creator with a connected company and one premium link (the link shares its id)."""

    id: int
    handle: str
    company_id: str
    plan_id: str
    title: str
    price_cents: int
    fee_cents: int


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment as the emulated Whop records it."""

    id: str
    status: str  # paid | open
    substatus: str  # succeeded | refunded | failed
    created_at: datetime
    refunded_at: datetime | None = None

    @property
    def updated_at(self) -> datetime:
        return self.refunded_at or self.created_at


@dataclass(frozen=True, slots=True)
class Sale:
    """One unlock as we record it, with its checkout and (once someone paid) its payment."""

    unlock_id: str
    seller: Seller
    buyer_token: str
    buyer_user_id: str
    status: str
    created_at: datetime
    checkout_id: str
    payment: Payment | None


@dataclass(slots=True)
class Sales:
    sellers: list[Seller] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)

    def with_status(self, status: str) -> list[Sale]:
        return [s for s in self.sales if s.status == status]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(s.status for s in self.sales).items()))


@dataclass(slots=True)
class Changes:
    """What Whop recorded after the last sweep, none of it known to us."""

    paid: list[Sale] = field(default_factory=list)  # new unlocks, PENDING here, paid there
    refunded: list[Sale] = field(default_factory=list)  # COMPLETED here, refunded there
    second_charges: list[tuple[Sale, Payment]] = field(default_factory=list)

    def expected(self) -> Counter[str]:
        """What converging them must report."""
        return Counter(
            {
                "completed": len(self.paid),
                "refunded": len(self.refunded),
                "duplicate_refunded": len(self.second_charges),
            }
        )


def build_sales(
    rng: random.Random,
    *,
    creators: int,
    unlocks: int,
    now: datetime,
    window: timedelta,
    fee_for: Callable[[int], int],
) -> Sales:
    """`unlocks` sales spread evenly over `window` before `now`, among `creators` sellers."""
    data = Sales()
    for n in range(1, creators + 1):
        price = rng.choice(PRICES)
        data.sellers.append(
            Seller(
                id=n,
                handle=f"{FIRST[n % len(FIRST)]}.sells{n}",
                company_id=make_id(rng, "biz_"),
                plan_id=make_id(rng, "plan_", 13),
                title=PREMIUM[n % len(PREMIUM)],
                price_cents=price,
                fee_cents=fee_for(price),
            )
        )
    statuses = [status for status, _ in ENDINGS]
    weights = [weight for _, weight in ENDINGS]
    # The oldest minute stays out: the first sweep's window starts a moment after `now`.
    span = (window - SETTLED).total_seconds()
    for _ in range(unlocks):
        created_at = now - timedelta(seconds=rng.uniform(0, span))
        ending = rng.choices(statuses, weights)[0]
        data.sales.append(_sale(rng, rng.choice(data.sellers), created_at, ending, now))
    data.sales.sort(key=lambda s: s.created_at)
    return data


def _sale(
    rng: random.Random, seller: Seller, created_at: datetime, ending: str, now: datetime
) -> Sale:
    """How a sale made at `created_at` stands at `now`, if it is to end as `ending`."""
    paid_at = created_at + timedelta(seconds=rng.uniform(20, 240))  # the checkout form
    if ending == "EXPIRED" and now - created_at < EXPIRE_AFTER:
        ending = "PENDING"
    elif ending != "EXPIRED" and paid_at > now - SETTLED:
        ending = "PENDING"  # the buyer is still on the checkout page
    refunded_at = paid_at + timedelta(seconds=rng.uniform(3600, 14 * 86400))
    if ending == "REFUNDED" and refunded_at > now - SETTLED:
        ending = "COMPLETED"
    payment = None
    if ending == "COMPLETED":
        payment = Payment(make_id(rng, "pay_"), "paid", "succeeded", paid_at)
    elif ending == "REFUNDED":
        payment = Payment(make_id(rng, "pay_"), "paid", "refunded", paid_at, refunded_at)
    elif ending == "FAILED":
        payment = Payment(make_id(rng, "pay_"), "open", "failed", paid_at)
    return _new_sale(rng, seller, created_at, ending, payment)


def _new_sale(
    rng: random.Random,
    seller: Seller,
    created_at: datetime,
    status: str,
    payment: Payment | None,
) -> Sale:
    return Sale(
        unlock_id=make_token(rng)[:22],
        seller=seller,
        buyer_token=make_token(rng),
        buyer_user_id=make_id(rng, "user_", 13),
        status=status,
        created_at=created_at,
        checkout_id=make_id(rng, "ch_", 15),
        payment=payment,
    )


def trickle(
    rng: random.Random,
    data: Sales,
    *,
    now: datetime,
    within: timedelta,
    paid: int,
    refunds: int,
    second_charges: int,
) -> Changes:
    """Changes at Whop over the `within` before `now`: `paid` new unlocks paid (their
    redirects and webhooks lost), `refunds` completed sales refunded in Whop's dashboard,
    `second_charges` completed sales paid again from another tab."""
    changes = Changes()

    def moment() -> datetime:
        return now - timedelta(seconds=rng.uniform(5, within.total_seconds()))

    for _ in range(paid):
        paid_at = moment()
        created_at = paid_at - timedelta(seconds=rng.uniform(20, 240))
        payment = Payment(make_id(rng, "pay_"), "paid", "succeeded", paid_at)
        changes.paid.append(
            _new_sale(rng, rng.choice(data.sellers), created_at, "PENDING", payment)
        )
    picked = rng.sample(data.with_status("COMPLETED"), refunds + second_charges)
    for sale in picked[:refunds]:
        assert sale.payment is not None
        refund = replace(sale.payment, substatus="refunded", refunded_at=moment())
        changes.refunded.append(replace(sale, payment=refund))
    for sale in picked[refunds:]:
        second = Payment(make_id(rng, "pay_"), "paid", "succeeded", moment())
        changes.second_charges.append((sale, second))
    return changes


# --- rows, by column ------------------------------------------------------------------------


def creator_row(seller: Seller) -> dict[str, Any]:
    return {
        "id": seller.id,
        "whop_user_id": f"user_sweep{seller.id:09d}",
        "handle": seller.handle,
        "email": f"{seller.handle}@example.com",
        "display_name": seller.handle.split(".")[0].title(),
        "whop_company_id": seller.company_id,
        "payout_enabled": True,
        "currency": CURRENCY,
    }


def link_row(seller: Seller) -> dict[str, Any]:
    return {
        "id": seller.id,
        "creator": seller.id,
        "kind": "premium",
        "title": seller.title,
        "url": f"https://files.example.org/{seller.handle}.zip",
        "price_cents": seller.price_cents,
    }


def company_row(seller: Seller, parent_company_id: str) -> dict[str, Any]:
    return {
        "id": seller.company_id,
        "parent_id": parent_company_id,
        "title": seller.handle,
        "email": f"{seller.handle}@example.com",
        "kyc_status": "connected",
        "payout_account_id": f"poact_sweep{seller.id:09d}",
    }


def plan_row(seller: Seller) -> dict[str, Any]:
    return {
        "id": seller.plan_id,
        "company_id": seller.company_id,
        "currency": CURRENCY,
        "plan_type": "one_time",
        "title": seller.title,
        "initial_price": to_major(seller.price_cents),
        "application_fee_amount": to_major(seller.fee_cents),
    }


def unlock_row(sale: Sale, app_url: str) -> dict[str, Any]:
    """Our record of the sale: a paid one knows its payment, a refunded one the refund."""
    seller, payment = sale.seller, sale.payment
    paid_by = payment if sale.status in ("COMPLETED", "REFUNDED") else None
    completed_at = paid_by.created_at + timedelta(seconds=2) if paid_by else None
    refunded_at = None
    if paid_by and paid_by.refunded_at:
        refunded_at = paid_by.refunded_at + timedelta(seconds=2)
    updated_at = refunded_at or completed_at or sale.created_at
    if sale.status == "EXPIRED":
        updated_at = sale.created_at + EXPIRE_AFTER
    elif sale.status == "FAILED" and payment:
        updated_at = payment.created_at
    return {
        "id": sale.unlock_id,
        "link": seller.id,
        "creator": seller.id,
        "link_title": seller.title,
        "buyer_token_hash": token_hash(sale.buyer_token),
        "status": sale.status,
        "price_cents": seller.price_cents,
        "fee_cents": seller.fee_cents,
        "currency": CURRENCY,
        "checkout_id": sale.checkout_id,
        "plan_id": seller.plan_id,
        "purchase_url": f"{app_url}/_whop/checkout/{seller.plan_id}?session={sale.checkout_id}",
        "provider_payment_id": paid_by.id if paid_by else None,
        "completed_via": ("redirect", "webhook")[seller.id % 2] if paid_by else None,
        "created_at": sale.created_at,
        "updated_at": updated_at,
        "completed_at": completed_at,
        "refunded_at": refunded_at,
        "refunded_cents": seller.price_cents if sale.status == "REFUNDED" else 0,
    }


def _metadata(sale: Sale) -> str:
    return json.dumps({"unlock_id": sale.unlock_id}, separators=(",", ":"))


def checkout_row(sale: Sale, app_url: str) -> dict[str, Any]:
    return {
        "id": sale.checkout_id,
        "company_id": sale.seller.company_id,
        "plan_id": sale.seller.plan_id,
        "mode": "payment",
        "metadata": _metadata(sale),
        "redirect_url": f"{app_url}/checkout/confirm?unlock={sale.unlock_id}",
        "created_at": sale.created_at,
    }


def payment_row(sale: Sale, payment: Payment) -> dict[str, Any]:
    """Whop's record of one payment of the sale's checkout (its metadata is the checkout's)."""
    seller = sale.seller
    paid = payment.status == "paid"
    refunded = payment.substatus == "refunded"
    return {
        "id": payment.id,
        "company_id": seller.company_id,
        "plan_id": seller.plan_id,
        "checkout_configuration_id": sale.checkout_id,
        "status": payment.status,
        "substatus": payment.substatus,
        "currency": CURRENCY,
        "total": to_major(seller.price_cents),
        "application_fee": to_major(seller.fee_cents),
        "refunded_amount": to_major(seller.price_cents) if refunded else Decimal(0),
        "tax_amount": Decimal(0),
        "tax_refunded_amount": Decimal(0),
        "metadata": _metadata(sale),
        "user_id": sale.buyer_user_id,
        "user_email": f"{sale.buyer_user_id.removeprefix('user_').lower()}@example.net",
        "user_name": None,  # no whop_user row stands behind the buyer: the join reads NULL
        "user_username": None,
        "card_brand": "visa",
        "card_last4": "4242" if paid else "0002",
        "failure_message": None if paid else "Your card was declined.",
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "paid_at": payment.created_at if paid else None,
        "refunded_at": payment.refunded_at,
    }


def refund_row(sale: Sale, payment: Payment) -> dict[str, Any]:
    return {
        "id": "rf_" + payment.id.removeprefix("pay_"),
        "payment_id": payment.id,
        "amount": to_major(sale.seller.price_cents),
        "currency": CURRENCY,
        "status": "succeeded",
        "created_at": payment.refunded_at,
        "updated_at": payment.refunded_at,
    }


# --- writing ---------------------------------------------------------------------------------


async def _copy(
    conn: asyncpg.Connection, table: str, rows: Sequence[dict[str, Any]], schema: str = "public"
) -> None:
    if rows:
        columns = list(rows[0])
        values = [tuple(row.values()) for row in rows]
        await copy_rows(conn, table, columns, values, schema=schema)


async def write_sales(
    conn: asyncpg.Connection, data: Sales, *, parent_company_id: str, app_url: str
) -> None:
    """COPY the sellers and their sales into a freshly migrated database, our tables and
    the emulated Whop's."""
    await _copy(conn, "creator", [creator_row(s) for s in data.sellers])
    await _copy(conn, "link", [link_row(s) for s in data.sellers])
    for table in ("creator", "link"):  # bulk-loaded ids leave the sequences behind
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"  # noqa: S608
        )
    await conn.execute(
        "INSERT INTO whop_emulator.company (id, title, kyc_status, payout_account_id)"
        " VALUES ($1, 'Linkmint platform', 'connected', 'poact_sweepplatform0')"
        " ON CONFLICT (id) DO NOTHING",
        parent_company_id,
    )
    companies = [company_row(s, parent_company_id) for s in data.sellers]
    await _copy(conn, "company", companies, EMULATOR)
    await _copy(conn, "plan", [plan_row(s) for s in data.sellers], EMULATOR)
    await _write_sales(conn, data.sales, app_url)


async def _write_sales(conn: asyncpg.Connection, sales: Sequence[Sale], app_url: str) -> None:
    await _copy(conn, "unlock", [unlock_row(s, app_url) for s in sales])
    await _copy(conn, "checkout_configuration", [checkout_row(s, app_url) for s in sales], EMULATOR)
    paid = [(s, s.payment) for s in sales if s.payment is not None]
    await _copy(conn, "payment", [payment_row(s, p) for s, p in paid], EMULATOR)
    refunded = [refund_row(s, p) for s, p in paid if p.refunded_at is not None]
    await _copy(conn, "refund", refunded, EMULATOR)


async def write_changes(conn: asyncpg.Connection, changes: Changes, *, app_url: str) -> None:
    """Record the changes at the emulated Whop (and the new unlocks, PENDING, here), with
    no webhook: as if every delivery and every buyer's return were lost."""
    await _write_sales(conn, changes.paid, app_url)
    refunds = [(s, s.payment) for s in changes.refunded if s.payment is not None]
    await conn.executemany(
        "UPDATE whop_emulator.payment SET substatus = 'refunded', refunded_amount = total,"
        " refunded_at = $2, updated_at = $2 WHERE id = $1",
        [(p.id, p.refunded_at) for _, p in refunds],
    )
    await _copy(conn, "refund", [refund_row(s, p) for s, p in refunds], EMULATOR)
    seconds = [payment_row(s, p) for s, p in changes.second_charges]
    await _copy(conn, "payment", seconds, EMULATOR)
