"""The money invariants, checked against Whop's own records: what any fault may delay but
never break.

- every paid, unrefunded payment at Whop that carries an unlock id backs exactly one
  COMPLETED unlock (that one, and by its payment id), and is not a second charge still
  waiting for its refund;
- a refunded payment backs no COMPLETED unlock;
- every COMPLETED unlock is backed by such a payment;
- per currency, our COMPLETED unlocks add up to Whop's paid-and-not-refunded total;
- every second charge we recorded (duplicate_payment) is refunded at Whop.

`money_check(whop, company_ids)` lists the companies' payments at Whop and compares them
with the unlock and duplicate_payment tables: of the test database by default, or of `db`
(an asyncpg connection to another one, for a test that runs its own PostgreSQL).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
from piccolo.engine import engine_finder

from app.whop import WhopClient
from app.whop.models import Payment

_UNLOCKS_SQL = """
SELECT u.id, u.status, u.provider_payment_id, u.price_cents, u.currency
  FROM unlock u JOIN creator c ON c.id = u.creator
 WHERE c.whop_company_id = ANY($1::text[])
"""
_DUPLICATES_SQL = "SELECT payment_id, unlock, refunded_at FROM duplicate_payment"


@dataclass
class MoneyCheck:
    problems: list[str] = field(default_factory=list)
    whop_paid: Counter[str] = field(default_factory=Counter)  # minor units per currency
    ours_completed: Counter[str] = field(default_factory=Counter)
    payments: int = 0  # paid and unrefunded, with an unlock id

    def __str__(self) -> str:
        head = (
            f"{self.payments} paid payment(s) at Whop: {dict(self.whop_paid)}; "
            f"our completed unlocks: {dict(self.ours_completed)}"
        )
        return "\n".join([head, *self.problems])


def _refunded(payment: Payment) -> bool:
    return payment.refunded_amount > 0


@asynccontextmanager
async def _connection(db: asyncpg.Connection | None) -> AsyncIterator[asyncpg.Connection]:
    if db is not None:
        yield db
        return
    async with engine_finder().connection() as conn:
        yield conn


async def money_check(
    whop: WhopClient, company_ids: Iterable[str], *, db: asyncpg.Connection | None = None
) -> MoneyCheck:
    companies = list(company_ids)
    payments = [p for company in companies async for p in whop.list_payments(company)]
    async with _connection(db) as conn:
        unlocks = {row["id"]: row for row in await conn.fetch(_UNLOCKS_SQL, companies)}
        duplicates = {row["payment_id"]: row for row in await conn.fetch(_DUPLICATES_SQL)}
    check = MoneyCheck()
    completed_by = {
        row["provider_payment_id"]: row for row in unlocks.values() if row["status"] == "COMPLETED"
    }
    backing: set[str] = set()
    for payment in payments:
        unlock_id = payment.metadata.get("unlock_id")
        if not unlock_id or not payment.is_paid:
            continue
        backs = completed_by.get(payment.id)
        if _refunded(payment):
            if backs is not None:
                check.problems.append(f"refunded {payment.id} still backs unlock {backs['id']}")
            continue
        check.payments += 1
        check.whop_paid[payment.currency] += payment.total
        if payment.id in duplicates:
            check.problems.append(f"second charge {payment.id} is not refunded at Whop")
        elif backs is None:
            status = unlocks[unlock_id]["status"] if unlock_id in unlocks else "unknown"
            check.problems.append(
                f"paid {payment.id} backs no completed unlock ({unlock_id} is {status})"
            )
        elif backs["id"] != unlock_id:
            check.problems.append(f"paid {payment.id} completed {backs['id']}, not {unlock_id}")
        else:
            backing.add(payment.id)
    for payment_id, row in completed_by.items():
        check.ours_completed[row["currency"]] += row["price_cents"]
        if payment_id not in backing:
            check.problems.append(f"completed unlock {row['id']} has no paid {payment_id}")
    refunded_at_whop = {p.id for p in payments if _refunded(p)}
    for payment_id, row in duplicates.items():  # (one still unrefunded is reported above)
        mine = row["unlock"] in unlocks
        if mine and row["refunded_at"] is not None and payment_id not in refunded_at_whop:
            check.problems.append(f"duplicate {payment_id}: refunded here, not at Whop")
    if check.whop_paid != check.ours_completed:
        check.problems.append(
            f"totals differ: Whop {dict(check.whop_paid)}, ours {dict(check.ours_completed)}"
        )
    return check
