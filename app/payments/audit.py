"""The money audit: for the payments made in a period, our books beside Whop's.

For every selling company, Whop's paid payments created in [start, end) that carry one of
our unlocks are listed (cursor pages, one call per company and page) and each is compared
with what we recorded: the COMPLETED or REFUNDED unlock it paid for (and how much of it was
refunded), or the second charge we refunded. Our own records of the period that Whop did
not list are then asked about one by one (normally none). The result, per creator and
currency, is what was paid and refunded by our records and by Whop's, and every payment
whose two stories differ, with why.

Amounts are the pre-tax price (Whop, the merchant of record, may add tax on top), in minor
units. "Paid" counts every charge of the period, including second charges and refunded
sales; "refunded" is what of it went back, so paid − refunded is what the creators keep
before the platform's fee.

Each audit is stored in `money_audit`; /metrics shows the latest. The maintenance task audits
the previous UTC day once a day; `linkmint reconcile --audit FROM TO` audits any period.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from app.db.records import Record
from app.db.tables import MoneyAudit, Unlock
from app.payments.convergence import UNLOCK_COLUMNS, UnlockTerms, mismatch, provider_state
from app.shared.money import format_money
from app.whop import Payment, WhopBadResponse, WhopClient, WhopNotFound

log = logging.getLogger("app.payments.audit")

SETTLE_AFTER = timedelta(hours=1)  # the daily audit waits this long after midnight (UTC)

# Hand-written: an audit reads thousands of payments, so each statement takes every id of a
# pass at once (`= ANY`) with the creator joined in; rows become the records below.
_COMPANIES_SQL = """
SELECT DISTINCT c.whop_company_id AS company_id
  FROM creator c
 WHERE c.whop_company_id IS NOT NULL
   AND EXISTS (SELECT 1 FROM unlock u WHERE u.creator = c.id AND u.checkout_id IS NOT NULL
                  AND u.created_at < {})
 ORDER BY 1
"""
_UNLOCKS_SQL = f"""
SELECT {UNLOCK_COLUMNS}, u.creator, c.handle
  FROM unlock u JOIN creator c ON c.id = u.creator
 WHERE u.id = ANY({{}}::text[])
"""  # noqa: S608 (the columns are a constant)
_DUPLICATES_SQL = """
SELECT d.payment_id, d.unlock, d.amount_cents, d.currency, d.refunded_at, u.creator, c.handle
  FROM duplicate_payment d JOIN unlock u ON u.id = d.unlock JOIN creator c ON c.id = u.creator
 WHERE d.payment_id = ANY({}::text[])
"""
# Our records of the period whose payment Whop did not list (asked about one by one).
_OURS_IN_PERIOD_SQL = """
SELECT u.provider_payment_id AS payment_id FROM unlock u
 WHERE u.completed_at >= {} AND u.completed_at < {} AND u.provider_payment_id IS NOT NULL
   AND NOT (u.provider_payment_id = ANY({}::text[]))
UNION
SELECT d.payment_id FROM duplicate_payment d
 WHERE d.created_at >= {} AND d.created_at < {} AND NOT (d.payment_id = ANY({}::text[]))
"""
_BY_PAYMENT_SQL = """
SELECT u.id, u.creator, u.status, u.price_cents, u.currency, u.provider_payment_id,
       u.refunded_cents, c.handle
  FROM unlock u JOIN creator c ON c.id = u.creator
 WHERE u.provider_payment_id = ANY({}::text[])
"""
_STORE_SQL = """
INSERT INTO money_audit (period_from, period_to, scheduled, whop_calls, totals, differences)
VALUES ({}, {}, {}, {}, {}::jsonb, {}::jsonb)
RETURNING id
"""
_LATEST_SCHEDULED_SQL = """
SELECT period_to FROM money_audit WHERE scheduled ORDER BY period_to DESC LIMIT 1
"""
_LATEST_SQL = """
SELECT ran_at, period_from, period_to, whop_calls, totals, differences
  FROM money_audit ORDER BY ran_at DESC, id DESC LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class AuditedUnlock(UnlockTerms):
    """An unlock a listed payment names, with whose it is."""

    creator: int
    handle: str | None


@dataclass(frozen=True, slots=True)
class SecondCharge(Record):
    """A recorded second charge (`duplicate_payment`), with whose unlock it was for."""

    payment_id: str
    unlock: str
    amount_cents: int
    currency: str
    refunded_at: datetime | None
    creator: int
    handle: str | None


@dataclass(frozen=True, slots=True)
class PaidUnlock(Record):
    """An unlock by the payment that paid it (one Whop did not list)."""

    id: str
    creator: int
    status: str
    price_cents: int
    currency: str
    provider_payment_id: str
    refunded_cents: int
    handle: str | None


@dataclass(frozen=True, slots=True)
class StoredAudit:
    """The latest audit as stored, its JSON columns parsed (what /metrics shows)."""

    ran_at: datetime
    period_from: datetime
    period_to: datetime
    whop_calls: int
    totals: tuple[Books, ...]
    differences: tuple[Difference, ...]


@dataclass
class Books:
    """One creator's figures in one currency, by our records and by Whop's."""

    creator: str
    currency: str
    paid: int = 0
    refunded: int = 0
    whop_paid: int = 0
    whop_refunded: int = 0

    @property
    def agree(self) -> bool:
        return (self.paid, self.refunded) == (self.whop_paid, self.whop_refunded)


@dataclass(frozen=True)
class Difference:
    payment_id: str
    creator: str
    currency: str
    whop: str  # what Whop says of the payment
    ours: str  # what our records say
    unlock_id: str | None = None


@dataclass
class AuditReport:
    start: datetime
    end: datetime
    calls: int = 0
    books: dict[tuple[str, str], Books] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and all(b.agree for b in self.books.values())

    def book(self, creator: str, currency: str) -> Books:
        key = (creator, currency)
        if key not in self.books:
            self.books[key] = Books(creator, currency)
        return self.books[key]

    def lines(self) -> list[str]:
        """The report as an operator reads it."""
        out = [
            f"Money audit of the payments made from {_iso(self.start)} to {_iso(self.end)} "
            f"({self.calls} call(s) to Whop)"
        ]
        if not self.books:
            out.append("No payments in this period.")
        else:
            header = (
                "creator",
                "cur",
                "paid here",
                "paid at Whop",
                "refunded here",
                "refunded at Whop",
                "",
            )
            rows: list[tuple[str, ...]] = [header]
            for b in sorted(self.books.values(), key=lambda b: (b.creator, b.currency)):
                money = [
                    format_money(v, b.currency)
                    for v in (b.paid, b.whop_paid, b.refunded, b.whop_refunded)
                ]
                rows.append((b.creator, b.currency, *money, "" if b.agree else "DIFFERS"))
            widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
            for r in rows:
                cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
                cells += [r[i].rjust(widths[i]) for i in range(2, 6)] + [r[6]]
                out.append("  ".join(cells).rstrip())
        if self.differences:
            out.append(f"{len(self.differences)} payment(s) differ:")
            for d in self.differences:
                unlock = f" (unlock {d.unlock_id})" if d.unlock_id else ""
                out.append(
                    f"  {d.payment_id}{unlock}, {d.creator} {d.currency}: "
                    f"Whop says {d.whop}; we say {d.ours}"
                )
        else:
            out.append("Every payment matches.")
        return out

    def totals_json(self) -> list[dict[str, Any]]:
        return [asdict(b) for b in self.books.values()]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _unlock_id(payment: Payment) -> str | None:
    unlock_id = payment.metadata.get("unlock_id")
    return unlock_id if isinstance(unlock_id, str) and 0 < len(unlock_id) <= 64 else None


def _whop_story(payment: Payment) -> str:
    state = provider_state(payment)
    amount = format_money(payment.price_paid, payment.currency)
    if state == "refunded":
        return f"refunded ({amount})"
    if state == "paid" and payment.price_refunded:
        refunded = format_money(payment.price_refunded, payment.currency)
        return f"paid {amount}, {refunded} of it refunded"
    if state == "paid":
        return f"paid {amount}"
    return f"{payment.status}" + (f"/{payment.substatus}" if payment.substatus else "")


class _Pacer:
    """Spaces the audit's calls to Whop evenly, `per_minute` a minute: it may page through
    thousands while the sweep shares the same limit."""

    def __init__(self, per_minute: int) -> None:
        self.gap = 60 / max(1, per_minute)
        self.next_at = time.monotonic()

    async def call(self) -> None:
        wait = self.next_at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self.next_at = max(self.next_at, time.monotonic()) + self.gap


async def audit(
    whop: WhopClient, start: datetime, end: datetime, *, calls_per_minute: int = 300
) -> AuditReport:
    """Compare our records of the payments made in [start, end) with Whop's."""
    if start.tzinfo is None or end.tzinfo is None or start >= end:
        raise ValueError("an audit needs an aware start before its end")
    report = AuditReport(start, end)
    pacer = _Pacer(calls_per_minute)
    listed: dict[str, Payment] = {}
    for row in await Unlock.raw(_COMPANIES_SQL, end):
        cursor: str | None = None
        while True:
            await pacer.call()
            report.calls += 1
            page = await whop.payments_page(
                row["company_id"],
                statuses=["paid"],
                # Whop's bounds are exclusive; a second's margin, then ours are exact.
                created_after=start - timedelta(seconds=1),
                created_before=end,
                after=cursor,
            )
            for payment in page.payments:
                if start <= payment.created_at < end and payment.status == "paid":
                    listed[payment.id] = payment
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

    by_unlock = {p.id: uid for p in listed.values() if (uid := _unlock_id(p)) is not None}
    rows = await Unlock.raw(_UNLOCKS_SQL, sorted(set(by_unlock.values())))
    unlocks = {u.id: u for u in map(AuditedUnlock.from_row, rows)}
    ours = {pid: p for pid, p in listed.items() if by_unlock.get(pid) in unlocks}
    duplicates = await _second_charges(list(ours))
    for payment in ours.values():
        _compare(report, payment, unlocks[by_unlock[payment.id]], duplicates.get(payment.id))

    known = list(ours)
    missing = await Unlock.raw(_OURS_IN_PERIOD_SQL, start, end, known, start, end, known)
    await _ours_not_listed(whop, report, pacer, [r["payment_id"] for r in missing])
    return report


async def _second_charges(payment_ids: list[str]) -> dict[str, SecondCharge]:
    rows = await Unlock.raw(_DUPLICATES_SQL, payment_ids)
    return {d.payment_id: d for d in map(SecondCharge.from_row, rows)}


def _compare(
    report: AuditReport,
    payment: Payment,
    unlock: AuditedUnlock,
    duplicate: SecondCharge | None,
) -> None:
    state = provider_state(payment)
    creator = unlock.handle or f"creator {unlock.creator}"
    books = report.book(creator, payment.currency)
    books.whop_paid += payment.price_paid
    books.whop_refunded += payment.price_paid if state == "refunded" else payment.price_refunded

    def differs(ours: str) -> None:
        report.differences.append(
            Difference(payment.id, creator, payment.currency, _whop_story(payment), ours, unlock.id)
        )

    if duplicate is not None:
        books.paid += duplicate.amount_cents
        if duplicate.refunded_at is not None:
            books.refunded += duplicate.amount_cents
        if state != "refunded":
            differs(
                "a second charge, refunded"
                if duplicate.refunded_at is not None
                else "a second charge whose refund Whop has not taken yet"
            )
        return
    if unlock.provider_payment_id != payment.id:
        # Refused as convergence refuses it (a plan not learnt yet is not held against it).
        known = unlock if unlock.plan_id else replace(unlock, plan_id=payment.plan_id)
        problem = mismatch(payment, known)
        why = f"; it does not match the unlock: {problem}" if problem else ""
        differs(f"no unlock paid by it (unlock is {unlock.status}){why}")
        return
    books.paid += unlock.price_cents
    refunded = unlock.price_cents if unlock.status == "REFUNDED" else unlock.refunded_cents
    books.refunded += refunded
    if unlock.price_cents != payment.price_paid:
        differs(f"the unlock cost {format_money(unlock.price_cents, payment.currency)}")
    elif state == "refunded" and unlock.status != "REFUNDED":
        differs(f"{unlock.status}, not refunded")
    elif state == "paid" and unlock.status == "REFUNDED":
        differs("REFUNDED")
    elif state == "paid" and refunded != payment.price_refunded:
        differs(f"{format_money(refunded, payment.currency)} refunded")


async def _ours_not_listed(
    whop: WhopClient, report: AuditReport, pacer: _Pacer, payment_ids: list[str]
) -> None:
    """Our records of the period that Whop's list left out: each payment asked about."""
    if not payment_ids:
        return
    rows = await Unlock.raw(_BY_PAYMENT_SQL, payment_ids)
    unlocks = {u.provider_payment_id: u for u in map(PaidUnlock.from_row, rows)}
    duplicates = await _second_charges(payment_ids)
    for payment_id in payment_ids:
        record: SecondCharge | PaidUnlock | None = duplicates.get(payment_id)
        record = record or unlocks.get(payment_id)
        if record is None:
            continue
        await pacer.call()
        report.calls += 1
        whop_says = "no such payment"
        try:
            payment: Payment | None = await whop.retrieve_payment(payment_id)
        except WhopNotFound:
            payment = None
        except WhopBadResponse as exc:  # a record missing a field: a difference, not a crash
            payment, whop_says = None, f"a record Linkmint cannot read ({exc.reason})"
        if payment is not None and not report.start <= payment.created_at < report.end:
            continue  # made before the period, recorded during it
        creator = record.handle or f"creator {record.creator}"
        currency = record.currency
        books = report.book(creator, currency)
        if isinstance(record, SecondCharge):
            books.paid += record.amount_cents
            books.refunded += record.amount_cents if record.refunded_at else 0
            ours = "a second charge"
            unlock_id = record.unlock
        else:
            refunded = record.refunded_cents
            if record.status == "REFUNDED":
                refunded = record.price_cents
            books.paid += record.price_cents
            books.refunded += refunded
            ours = f"it paid unlock {record.id} ({record.status})"
            unlock_id = record.id
        if payment is not None:
            whop_says = _whop_story(payment)
        report.differences.append(
            Difference(payment_id, creator, currency, whop_says, ours, unlock_id)
        )


async def store(report: AuditReport, *, scheduled: bool = False) -> int:
    rows = await MoneyAudit.raw(
        _STORE_SQL,
        report.start,
        report.end,
        scheduled,
        report.calls,
        json.dumps(report.totals_json()),
        json.dumps([asdict(d) for d in report.differences]),
    )
    audit_id: int = rows[0]["id"]
    return audit_id


def _json(value: object) -> list[dict[str, Any]]:
    parsed = json.loads(value) if isinstance(value, str) else value  # asyncpg: jsonb as text
    return parsed if isinstance(parsed, list) else []


async def latest() -> StoredAudit | None:
    """The latest stored audit (for /metrics)."""
    rows = await MoneyAudit.raw(_LATEST_SQL)
    if not rows:
        return None
    row = rows[0]
    return StoredAudit(
        ran_at=row["ran_at"],
        period_from=row["period_from"],
        period_to=row["period_to"],
        whop_calls=row["whop_calls"],
        totals=tuple(Books(**books) for books in _json(row["totals"])),
        differences=tuple(Difference(**d) for d in _json(row["differences"])),
    )


async def audit_yesterday_if_due(
    whop: WhopClient, *, now: datetime | None = None, calls_per_minute: int = 300
) -> AuditReport | None:
    """The daily audit of the previous UTC day, once it has settled; None when not due."""
    now = now or datetime.now(UTC)
    today = datetime.combine(now.date(), clock_time(), tzinfo=UTC)
    if now < today + SETTLE_AFTER:
        return None
    rows = await MoneyAudit.raw(_LATEST_SCHEDULED_SQL)
    if rows and rows[0]["period_to"] >= today:
        return None
    report = await audit(whop, today - timedelta(days=1), today, calls_per_minute=calls_per_minute)
    await store(report, scheduled=True)
    level = logging.INFO if report.clean else logging.WARNING
    log.log(level, "daily money audit: %d payment(s) differ", len(report.differences))
    return report


def per_currency(totals: Iterable[Books]) -> dict[str, dict[str, int]]:
    """An audit's totals summed per currency (what /metrics shows)."""
    sums: dict[str, dict[str, int]] = defaultdict(
        lambda: {"paid": 0, "refunded": 0, "whop_paid": 0, "whop_refunded": 0}
    )
    for books in totals:
        per = sums[books.currency]
        per["paid"] += books.paid
        per["refunded"] += books.refunded
        per["whop_paid"] += books.whop_paid
        per["whop_refunded"] += books.whop_refunded
    return dict(sums)
