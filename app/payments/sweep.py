"""The sweep: Whop's own records of each connected company, read back and matched to ours.

The buyer's return and the webhook each carry one payment id; when both are lost, only Whop
knows that money moved: a second charge on an unlock that is already COMPLETED, a refund
made in Whop's dashboard, a payment on an unlock that had EXPIRED. So the reconciler lists
every selling company's payments at Whop — by `updated_at`, since a refund changes an old
payment rather than creating a new one — and converges each one that carries one of our
unlocks and does not already match our state.

Cost is per company, never per unlock: one list call per company per window (plus a call per
further page of changes), within a budget of calls per pass that the caller sets (the
reconciler derives it from the time since the last sweep, so that however many processes
take turns the sweep keeps within its share of Whop's documented rate limit of 600 calls per
minute per operation and key). Each company's progress lives in `whop_sweep`:

- `swept_to`: every payment Whop changed before it has been matched. The next window starts
  `OVERLAP` earlier, so a clock difference with Whop or a change committed at Whop just
  after our list was read is seen the next time (matching is idempotent).
- `window_from` / `window_to` / `cursor`: a window not read to the end when the pass's budget
  ran out; the next pass goes on from Whop's cursor with the same filters.

Companies are due when they were never read, are part way through a window, or were last
read `every` ago; a company whose latest checkout is older than Whop's refund window is read
twelve times less often (an old checkout can still be paid, and an old payment refunded,
but rarely). The stalest go first, so a backlog cannot starve anyone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.db.records import Record
from app.db.tables import Unlock, WhopSweep
from app.payments.convergence import apply_payment, provider_state
from app.whop import Payment, WhopClient, WhopError

log = logging.getLogger("app.payments.sweep")

OVERLAP = timedelta(minutes=2)
DORMANT_FACTOR = 12  # a company with no checkout inside the refund window: read this much less

# Hand-written: which companies are due is one ranking over every seller, windows move by the
# database's clock (`now()` in the statement), and a page of listed payments is matched to
# our records in two queries (`= ANY`), whatever its length. Rows become the records below.
_DUE_SQL = """
WITH selling AS (
    SELECT c.whop_company_id AS company_id, bool_or(last.at > now() - {}::interval) AS active
      FROM creator c
     CROSS JOIN LATERAL (SELECT max(u.created_at) AS at FROM unlock u
                          WHERE u.creator = c.id AND u.checkout_id IS NOT NULL) last
     WHERE c.whop_company_id IS NOT NULL AND last.at IS NOT NULL
     GROUP BY c.whop_company_id
)
SELECT s.company_id, w.swept_to, w.window_from, w.window_to, w.cursor
  FROM selling s LEFT JOIN whop_sweep w ON w.company_id = s.company_id
 WHERE w.swept_to IS NULL OR w.cursor IS NOT NULL
    OR w.swept_to < now() - CASE WHEN s.active THEN {}::interval ELSE {}::interval END
 ORDER BY w.cursor IS NULL, w.swept_to NULLS FIRST, s.company_id
 LIMIT {}
"""
# A new window: from a little before where the last one ended (or the whole refund window,
# the first time) to now, by the database's clock.
_OPEN_WINDOW_SQL = """
INSERT INTO whop_sweep (company_id, window_from, window_to)
VALUES ({}, now() - {}::interval, now())
ON CONFLICT (company_id) DO UPDATE
   SET window_from = COALESCE(whop_sweep.swept_to - {}::interval, EXCLUDED.window_from),
       window_to = EXCLUDED.window_to, cursor = NULL, updated_at = now()
RETURNING window_from, window_to
"""
_CURSOR_SQL = "UPDATE whop_sweep SET cursor = {}, updated_at = now() WHERE company_id = {}"
_SWEPT_SQL = """
UPDATE whop_sweep
   SET swept_to = window_to, window_from = NULL, window_to = NULL, cursor = NULL,
       updated_at = now()
 WHERE company_id = {}
"""
_OURS_SQL = """
SELECT id, status, provider_payment_id, refunded_cents FROM unlock WHERE id = ANY({}::text[])
"""
_DUPLICATES_SQL = """
SELECT payment_id, refunded_at FROM duplicate_payment WHERE payment_id = ANY({}::text[])
"""
_LAG_SQL = """
SELECT COALESCE(extract(epoch FROM max(now() - COALESCE(w.swept_to, s.since))), 0) AS lag
  FROM (SELECT c.whop_company_id AS company_id, min(first.at) AS since
          FROM creator c
         CROSS JOIN LATERAL (SELECT min(u.created_at) AS at FROM unlock u
                              WHERE u.creator = c.id AND u.checkout_id IS NOT NULL
                                AND u.created_at > now() - {}::interval) first
         WHERE c.whop_company_id IS NOT NULL AND first.at IS NOT NULL
         GROUP BY c.whop_company_id) s
  LEFT JOIN whop_sweep w ON w.company_id = s.company_id
"""


@dataclass(frozen=True, slots=True)
class DueCompany(Record):
    """A selling company due for a sweep, and where its last window stands."""

    company_id: str
    swept_to: datetime | None
    window_from: datetime | None
    window_to: datetime | None
    cursor: str | None  # set while a window is read part way


@dataclass(frozen=True, slots=True)
class SweptUnlock(Record):
    """What the sweep compares a listed payment with, before converging it."""

    id: str
    status: str
    provider_payment_id: str | None
    refunded_cents: int


@dataclass(frozen=True, slots=True)
class RecordedDuplicate(Record):
    """A second charge we recorded, and whether Whop took its refund."""

    payment_id: str
    refunded_at: datetime | None


@dataclass
class SweepReport:
    companies: int = 0  # companies whose payments were read, in full or in part
    finished: int = 0  # of those, windows read to the end
    calls: int = 0  # list calls made to Whop
    payments: int = 0  # payments read
    in_step: int = 0  # of those, already matching our state (or not ours)
    skipped: int = 0  # listed records Whop sent without a field we need
    errors: int = 0  # companies Whop could not answer for (tried again next pass)
    out_of_budget: bool = False  # due companies were left for the next pass
    results: Counter[str] = field(default_factory=Counter)  # what converging changed

    def summary(self) -> str:
        found = ", ".join(f"{n} {r}" for r, n in sorted(self.results.items())) or "nothing new"
        more = "; budget spent, more next pass" if self.out_of_budget else ""
        return (
            f"swept {self.companies} company(ies) in {self.calls} Whop call(s): "
            f"{self.payments} payment(s) read, {found}; Whop errors {self.errors}{more}"
        )


def _unlock_id(payment: Payment) -> str | None:
    unlock_id = payment.metadata.get("unlock_id")
    return unlock_id if isinstance(unlock_id, str) and 0 < len(unlock_id) <= 64 else None


def in_step(
    payment: Payment, unlock: SweptUnlock | None, duplicate: RecordedDuplicate | None
) -> bool:
    """Whether converging `payment` could change nothing: it is not ours, or our records
    already say what Whop says (paid by it and refunded by as much before tax, refunded, or
    a second charge whose refund is taken or still being retried).

    Nothing here decides whether the payment may pay for the unlock: one that does not
    match it (`convergence.mismatch`: another checkout or plan, no platform fee, another
    amount) and is not in step is converged like any other, and refused there — logged and
    counted as on the other paths, never completed."""
    if unlock is None:
        return True  # not one of our unlocks: another product of the creator's, say
    state = provider_state(payment)
    paid_by_it = unlock.provider_payment_id == payment.id
    if state == "paid":
        if duplicate is not None:
            return duplicate.refunded_at is None  # the reconciler retries that refund
        return (
            paid_by_it
            and unlock.status == "COMPLETED"
            and unlock.refunded_cents == payment.price_refunded
        )
    if state == "refunded":
        if duplicate is not None:
            return duplicate.refunded_at is not None
        return paid_by_it and unlock.status == "REFUNDED"
    if state == "failed":
        return unlock.status != "PENDING"
    return True  # open: nothing to do yet


async def match_payments(
    whop: WhopClient, payments: Iterable[Payment], report: SweepReport
) -> None:
    """Converge every payment that carries one of our unlocks and differs from our state.
    Two queries find which ones; only those touch the database again."""
    ours = [(p, uid) for p in payments if (uid := _unlock_id(p)) is not None]
    report.in_step += sum(1 for p in payments if _unlock_id(p) is None)
    if not ours:
        return
    rows = await Unlock.raw(_OURS_SQL, sorted({uid for _, uid in ours}))
    unlocks = {u.id: u for u in map(SweptUnlock.from_row, rows)}
    rows = await Unlock.raw(_DUPLICATES_SQL, [p.id for p, _ in ours])
    duplicates = {d.payment_id: d for d in map(RecordedDuplicate.from_row, rows)}
    for payment, unlock_id in ours:
        if in_step(payment, unlocks.get(unlock_id), duplicates.get(payment.id)):
            report.in_step += 1
            continue
        outcome = await apply_payment(whop, payment, "reconcile")
        report.results[outcome.result] += 1


async def sweep(
    whop: WhopClient,
    *,
    calls: int,
    every: timedelta,
    refund_window: timedelta,
    overlap: timedelta = OVERLAP,
) -> SweepReport:
    """One pass: read the due companies' changed payments at Whop, at most `calls` list
    calls, and converge what differs."""
    report = SweepReport()
    rows = await WhopSweep.raw(
        _DUE_SQL, refund_window, every, every * DORMANT_FACTOR, max(calls, 0) + 1
    )
    for company in map(DueCompany.from_row, rows):
        if report.calls >= calls:
            report.out_of_budget = True
            break
        report.companies += 1
        try:
            if await _sweep_company(whop, company, report, calls, refund_window, overlap):
                report.finished += 1
        except WhopError as exc:
            report.errors += 1
            log.warning("could not read the payments of %s at Whop: %s", company.company_id, exc)
    return report


async def _sweep_company(
    whop: WhopClient,
    company: DueCompany,
    report: SweepReport,
    calls: int,
    refund_window: timedelta,
    overlap: timedelta,
) -> bool:
    """Read one company's window, page by page, while the budget lasts; True when the
    window was read to its end."""
    company_id, cursor = company.company_id, company.cursor
    if cursor is not None:
        window_from, window_to = company.window_from, company.window_to
    else:
        [opened] = await WhopSweep.raw(_OPEN_WINDOW_SQL, company_id, refund_window, overlap)
        window_from, window_to = opened["window_from"], opened["window_to"]
    while True:
        if report.calls >= calls:
            report.out_of_budget = True
            return False
        report.calls += 1
        page = await whop.payments_page(
            company_id, updated_after=window_from, updated_before=window_to, after=cursor
        )
        report.payments += len(page.payments)
        report.skipped += page.skipped
        await match_payments(whop, page.payments, report)
        if page.next_cursor is None:
            await WhopSweep.raw(_SWEPT_SQL, company_id)
            return True
        cursor = page.next_cursor
        await WhopSweep.raw(_CURSOR_SQL, cursor, company_id)


async def sweep_lag(refund_window: timedelta) -> float:
    """How far behind the stalest selling company's sweep is, in seconds (0: none sells).
    More than the sweep interval plus a pass means the budget does not cover every company."""
    rows = await WhopSweep.raw(_LAG_SQL, refund_window)
    return float(rows[0]["lag"]) if rows else 0.0
