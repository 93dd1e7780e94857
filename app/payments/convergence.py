"""Convergence: the one way an unlock learns what happened to its payment.

The buyer's return from checkout (`redirect`), Whop's webhooks (`webhook`) and the periodic
reconciler (`reconcile`) all call `converge_payment`. None of them is trusted for anything
but a payment id: the payment is read from Whop's API, and it must carry our unlock's id in
its metadata, be charged on the creator's company, come from the checkout we created for that
unlock (its configuration and plan) with our platform fee on it, and be for exactly the
unlock's price before tax (Whop, the merchant of record, may add tax on top) and currency.
Anything else is a mismatch: logged, counted by reason, never applied. Then one conditional
UPDATE applies it, so any number of callers in any order end in the same place, with exactly
one of them making the change:

    PENDING ─paid─> COMPLETED ─refunded─> REFUNDED
    PENDING ─failed─> FAILED        PENDING ─(reconciler, nothing paid)─> EXPIRED
    COMPLETED ─partly refunded─> COMPLETED with `refunded_cents` (the buyer keeps the link)

States only move forward. A failed payment moves only a PENDING unlock; a replayed success
never revives a REFUNDED one. A verified paid payment does complete a FAILED or EXPIRED
unlock: the buyer's card was declined and the next one paid, or they paid just as the
checkout expired — money was taken, so the link is theirs. A second paid payment for an
unlock that another payment already paid (two tabs), or for a link the buyer already owns
through another unlock, is refunded through Whop and recorded in `duplicate_payment`, so
nobody pays twice for one link. At most one COMPLETED unlock per buyer and link is a unique
index, not only a check: two payments converging at once in two transactions cannot both
win, and the loser is refunded as a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import asyncpg

from app.db.records import Record
from app.db.tables import Unlock
from app.payments import metrics
from app.whop import Payment, WhopClient, WhopError, WhopNotFound, WhopRejected

log = logging.getLogger("app.payments.convergence")

# Results that moved an unlock; every other result left it as it was.
TRANSITIONS = frozenset({"completed", "refunded", "failed", "partially_refunded"})
ONE_COMPLETED_PER_BUYER = "unlock_one_completed_per_buyer"  # the partial unique index

# What a payment is matched against (`mismatch`, `UnlockTerms`); the audit reads the same.
UNLOCK_COLUMNS = """
u.id, u.status, u.price_cents, u.fee_cents, u.currency, u.provider_payment_id, u.checkout_id,
u.plan_id, u.refunded_cents, c.whop_company_id AS company_id
"""
_UNLOCK_SQL = f"""
SELECT {UNLOCK_COLUMNS}
  FROM unlock u JOIN creator c ON c.id = u.creator
 WHERE u.id = {{}}
"""  # noqa: S608 (the columns are a constant)
_UNLOCKS_SQL = f"""
SELECT {UNLOCK_COLUMNS}
  FROM unlock u JOIN creator c ON c.id = u.creator
 WHERE u.id = ANY({{}}::text[])
"""  # noqa: S608 (the columns are a constant)
_STATUS_SQL = "SELECT status, provider_payment_id FROM unlock WHERE id = {}"
_LEARNT_PLAN_SQL = """
UPDATE unlock SET plan_id = {}, updated_at = now()
 WHERE id = {} AND checkout_id = {} AND plan_id IS NULL
"""

# The conditional updates, written by hand because their shape is the rule: each names the
# states it may leave, so a concurrent caller that lost the race (READ COMMITTED re-checks
# the WHERE after the winner commits) changes nothing.
# (The buyer must not own the link already through another unlock: a checkout opened before
# the first one was paid — a declined card, "Try again", then both tabs paid.)
_COMPLETE_SQL = """
UPDATE unlock u
   SET status = 'COMPLETED', provider_payment_id = {}, completed_via = {},
       completed_at = now(), updated_at = now(), refunded_cents = {},
       buyer_whop_user_id = COALESCE({}, u.buyer_whop_user_id),
       buyer_email = COALESCE({}, u.buyer_email)
 WHERE u.id = {} AND u.status IN ('PENDING', 'FAILED', 'EXPIRED')
   AND u.provider_payment_id IS NULL
   AND NOT EXISTS (SELECT 1 FROM unlock owned
                    WHERE owned.link = u.link AND owned.buyer_token_hash = u.buyer_token_hash
                      AND owned.status = 'COMPLETED' AND owned.id <> u.id)
RETURNING u.id
"""
_REFUND_SQL = """
UPDATE unlock
   SET status = 'REFUNDED', refunded_at = now(), updated_at = now(),
       refunded_cents = price_cents,
       provider_payment_id = COALESCE(provider_payment_id, {}),
       completed_via = COALESCE(completed_via, {}),
       completed_at = COALESCE(completed_at, now()),
       buyer_whop_user_id = COALESCE(buyer_whop_user_id, {}),
       buyer_email = COALESCE(buyer_email, {})
 WHERE id = {}
   AND ((status = 'COMPLETED' AND provider_payment_id = {})
        OR (status IN ('PENDING', 'FAILED', 'EXPIRED') AND provider_payment_id IS NULL))
RETURNING id
"""
# A partial refund of the payment behind a completed unlock (refunds only ever grow).
_PARTIAL_SQL = """
UPDATE unlock SET refunded_cents = {}, updated_at = now()
 WHERE id = {} AND status = 'COMPLETED' AND provider_payment_id = {} AND refunded_cents < {}
RETURNING id
"""
_FAIL_SQL = """
UPDATE unlock SET status = 'FAILED', updated_at = now()
 WHERE id = {} AND status = 'PENDING'
RETURNING id
"""
_RECORD_DUPLICATE_SQL = """
INSERT INTO duplicate_payment (payment_id, unlock, amount_cents, currency, detected_via)
VALUES ({}, {}, {}, {}, {})
ON CONFLICT (payment_id) DO NOTHING
"""
_DUPLICATE_REFUNDED_SQL = """
UPDATE duplicate_payment SET refunded_at = now(), last_error = NULL
 WHERE payment_id = {} AND refunded_at IS NULL
"""
_DUPLICATE_FAILED_SQL = """
UPDATE duplicate_payment SET last_error = {} WHERE payment_id = {} AND refunded_at IS NULL
"""
# The buyer's return asks Whop about an unlock at most once per RETURN_ASK_EVERY, in all
# processes together (a double load, two tabs, a refresh loop), and never about a payment
# that is settled: the one that paid (or was refunded from) an unlock, or a second charge
# already recorded (the reconciler retries a refund Whop has not taken yet).
RETURN_ASK_EVERY = timedelta(seconds=3)
_CLAIM_ASK_SQL = """
UPDATE unlock u SET confirm_asked_at = clock_timestamp()
 WHERE u.id = {}
   AND (u.confirm_asked_at IS NULL OR u.confirm_asked_at <= clock_timestamp() - {}::interval)
   AND NOT EXISTS (SELECT 1 FROM unlock paid
                    WHERE paid.provider_payment_id = {}
                      AND paid.status IN ('COMPLETED', 'REFUNDED'))
   AND NOT EXISTS (SELECT 1 FROM duplicate_payment d WHERE d.payment_id = {})
RETURNING u.confirm_asked_at
"""
_RELEASE_ASK_SQL = """
UPDATE unlock SET confirm_asked_at = NULL WHERE id = {} AND confirm_asked_at = {}
"""


@dataclass(frozen=True, slots=True)
class UnlockTerms(Record):
    """What an unlock was sold for, and where it stands: what a payment is matched against
    (UNLOCK_COLUMNS, read with the creator's company)."""

    id: str
    status: str
    price_cents: int
    fee_cents: int
    currency: str
    provider_payment_id: str | None
    checkout_id: str | None
    plan_id: str | None
    refunded_cents: int
    company_id: str | None


async def unlock_terms(unlock_id: str) -> UnlockTerms | None:
    """The unlock's terms: inside a transaction, read through it; outside, read together with
    the terms other tasks ask for at the same moment (the inbox prepares many events at once,
    each asking about its unlock), in one query."""
    if Unlock._meta.db.current_transaction.get() is not None:
        rows = await Unlock.raw(_UNLOCK_SQL, unlock_id)
        return UnlockTerms.from_row(rows[0]) if rows else None
    loop = asyncio.get_running_loop()
    reads = _terms_reads.get(loop)
    if reads is None:
        reads = _terms_reads[loop] = _TermsReads(loop)
    return await reads.ask(unlock_id)


_Asked = dict[str, list[asyncio.Future[UnlockTerms | None]]]  # unlock id -> who waits for it


class _TermsReads:
    """Unlock terms asked for while a read is under way wait for the next read, which answers
    them all: one query at a time per event loop, each for every unlock asked since the last
    one. Unloaded, a read answers one ask at once; under load, a read answers many."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._asked: _Asked = {}
        self._reading: asyncio.Task[None] | None = None

    async def ask(self, unlock_id: str) -> UnlockTerms | None:
        answer: asyncio.Future[UnlockTerms | None] = self._loop.create_future()
        self._asked.setdefault(unlock_id, []).append(answer)
        if self._reading is None:
            self._reading = self._loop.create_task(self._read(), name="unlock-terms-reads")
        return await answer

    async def _read(self) -> None:
        try:
            while self._asked:
                asked, self._asked = self._asked, {}
                try:
                    rows = await Unlock.raw(_UNLOCKS_SQL, list(asked))
                except Exception as exc:  # each asker gets the failure, as its own read would
                    for answer in _pending(asked):
                        answer.set_exception(exc)
                    continue
                except BaseException:
                    for answer in _pending(asked):
                        answer.cancel()
                    raise
                found = {row["id"]: UnlockTerms.from_row(row) for row in rows}
                for unlock_id, answers in asked.items():
                    for answer in answers:
                        if not answer.done():
                            answer.set_result(found.get(unlock_id))
        finally:
            for answer in _pending(self._asked):  # (only when cancelled: the loop is closing)
                answer.cancel()
            self._asked = {}
            self._reading = None
            if _terms_reads.get(self._loop) is self:
                del _terms_reads[self._loop]


def _pending(asked: _Asked) -> list[asyncio.Future[UnlockTerms | None]]:
    return [answer for answers in asked.values() for answer in answers if not answer.done()]


_terms_reads: dict[asyncio.AbstractEventLoop, _TermsReads] = {}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What converging one payment did. `status` is the unlock's status afterwards."""

    result: str
    unlock_id: str | None = None
    status: str | None = None

    @property
    def changed(self) -> bool:
        return self.result in TRANSITIONS


def provider_state(payment: Payment) -> str:
    """What the payment means for an unlock: paid, refunded, failed, or still open."""
    if payment.status == "paid":
        fully_refunded = payment.total > 0 and payment.refunded_amount >= payment.total
        return "refunded" if fully_refunded or payment.substatus == "refunded" else "paid"
    if payment.substatus == "failed" or payment.status in ("void", "uncollectible"):
        return "failed"
    return "open"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Why a payment cannot pay for an unlock: `reason` labels the metric, `detail` the log."""

    reason: str  # one of MISMATCH_REASONS
    detail: str

    def __str__(self) -> str:
        return self.detail


MISMATCH_REASONS = ("company", "checkout", "plan", "currency", "fee", "amount")
for _reason in MISMATCH_REASONS:
    metrics.MISMATCHES.labels(_reason)  # every reason shows on /metrics, at 0 until it happens


def mismatch(payment: Payment, unlock: UnlockTerms) -> Mismatch | None:
    """Why this payment cannot pay for this unlock, or None when it matches exactly: charged
    on the creator's company, from the checkout we created for this unlock and its plan, in
    the unlock's currency, with our platform fee on it, for the unlock's price before tax."""
    if not unlock.company_id or payment.company_id != unlock.company_id:
        return Mismatch("company", "the payment is on another company")
    checkout_id = unlock.checkout_id
    if checkout_id is None or payment.checkout_configuration_id != checkout_id:
        came_from = payment.checkout_configuration_id or "no checkout"
        return Mismatch(
            "checkout", f"the payment came from {came_from}, the unlock's checkout is {checkout_id}"
        )
    if unlock.plan_id is None:
        return Mismatch("plan", f"the plan of checkout {checkout_id} is not known")
    if payment.plan_id != unlock.plan_id:
        return Mismatch(
            "plan",
            f"the payment is for plan {payment.plan_id}, the checkout's is {unlock.plan_id}",
        )
    if payment.currency != unlock.currency:
        return Mismatch(
            "currency", f"the payment is in {payment.currency}, the unlock in {unlock.currency}"
        )
    if (payment.application_fee or 0) != unlock.fee_cents:
        fee = "no" if payment.application_fee is None else payment.application_fee
        return Mismatch(
            "fee", f"the payment carries {fee} platform fee, ours is {unlock.fee_cents}"
        )
    if payment.price_paid != unlock.price_cents:
        return Mismatch(
            "amount",
            f"the payment is for {payment.price_paid} before tax, the unlock costs "
            f"{unlock.price_cents}",
        )
    return None


def _done(path: str, outcome: Outcome, payment_id: str) -> Outcome:
    metrics.CONVERGENCE.labels(path, outcome.result).inc()
    level = logging.INFO if outcome.changed or "duplicate" in outcome.result else logging.DEBUG
    log.log(
        level,
        "payment %s via %s: %s (unlock %s, now %s)",
        payment_id,
        path,
        outcome.result,
        outcome.unlock_id,
        outcome.status,
    )
    return outcome


async def converge_payment(whop: WhopClient, payment_id: str, path: str) -> Outcome:
    """Ask Whop about `payment_id` and apply the answer to its unlock.

    Whop being unreachable raises `WhopError` (the caller retries: the inbox keeps the
    event, the page keeps polling, the reconciler comes back); an unknown payment is an
    outcome, not an error.
    """
    try:
        payment = await whop.retrieve_payment(payment_id)
    except WhopNotFound:
        return unknown_payment(payment_id, path)
    return await apply_payment(whop, payment, path)


def unknown_payment(payment_id: str, path: str) -> Outcome:
    """Whop has no such payment (a made-up id, or another platform's): nothing to do."""
    return _done(path, Outcome("unknown_payment"), payment_id)


async def apply_payment(
    whop: WhopClient,
    payment: Payment,
    path: str,
    *,
    refund_now: bool = True,
    terms: UnlockTerms | None = None,
) -> Outcome:
    """Apply a payment read from Whop's API (never from a webhook body or a query string).

    `refund_now=False` (inside a transaction, which must not wait on Whop): a second charge
    is only recorded, as "duplicate_refund_pending"; the caller refunds it after commit
    with `refund_duplicate` (and the reconciler retries any refund still not taken).

    `terms`: the unlock's, as `learn_plan` read them just before (so a transaction need not
    read them again). Reading them a moment earlier changes nothing: what they are matched
    on is fixed once the checkout exists, and each transition's UPDATE checks the unlock's
    state itself."""
    unlock_id = payment.metadata.get("unlock_id")
    if not isinstance(unlock_id, str) or not unlock_id or len(unlock_id) > 64:
        return _done(path, Outcome("not_ours"), payment.id)
    unlock = terms if terms is not None and terms.id == unlock_id else None
    unlock = unlock or await unlock_terms(unlock_id)
    if unlock is None:
        return _done(path, Outcome("not_ours", unlock_id), payment.id)
    if Unlock._meta.db.current_transaction.get() is None:  # (a transaction must not wait)
        unlock = await _with_plan(whop, unlock, payment)
    if problem := mismatch(payment, unlock):
        metrics.MISMATCHES.labels(problem.reason).inc()
        log.warning("payment %s does not match unlock %s: %s", payment.id, unlock_id, problem)
        return _done(path, Outcome("mismatch", unlock_id, unlock.status), payment.id)

    state = provider_state(payment)
    if state == "paid":
        outcome = await _complete(whop, unlock, payment, path, refund_now=refund_now)
    elif state == "refunded":
        outcome = await _refund(unlock, payment, path)
    elif state == "failed":
        outcome = await _fail(unlock)
    else:
        outcome = Outcome("not_paid", unlock_id, unlock.status)
    return _done(path, outcome, payment.id)


async def learn_plan(whop: WhopClient, payment: Payment) -> UnlockTerms | None:
    """Make sure the plan of the checkout `payment` came from is known for its unlock, before
    `apply_payment` runs inside a transaction (which must not wait on Whop); the unlock's
    terms, to hand to `apply_payment`, or None when the payment names no unlock of ours."""
    unlock_id = payment.metadata.get("unlock_id")
    if isinstance(unlock_id, str) and 0 < len(unlock_id) <= 64:
        if unlock := await unlock_terms(unlock_id):
            return await _with_plan(whop, unlock, payment)
    return None


async def _with_plan(whop: WhopClient, unlock: UnlockTerms, payment: Payment) -> UnlockTerms:
    """The unlock, with the plan of its checkout read from Whop and kept when it was made
    before Linkmint kept plans. Only for a payment from that checkout: any other is a
    mismatch whatever the plan. Whop being unreachable raises `WhopError` (retried)."""
    checkout_id = unlock.checkout_id
    if unlock.plan_id is not None or checkout_id is None:
        return unlock
    if payment.checkout_configuration_id != checkout_id:
        return unlock
    try:
        checkout = await whop.retrieve_checkout_configuration(checkout_id)
    except WhopNotFound:
        return unlock  # the plan stays unknown: a mismatch
    await Unlock.raw(_LEARNT_PLAN_SQL, checkout.plan_id, unlock.id, checkout_id)
    log.info("unlock %s: checkout %s is for plan %s", unlock.id, checkout_id, checkout.plan_id)
    return replace(unlock, plan_id=checkout.plan_id)


def _buyer(payment: Payment) -> tuple[str | None, str | None]:
    user = payment.user_id if payment.user_id and len(payment.user_id) <= 64 else None
    email = payment.user_email if payment.user_email and len(payment.user_email) <= 320 else None
    return user, email


async def _status(unlock_id: str) -> tuple[str, str | None]:
    """The unlock's status now, and the payment that paid it (after a race was lost)."""
    [row] = await Unlock.raw(_STATUS_SQL, unlock_id)  # (unlocks are never deleted)
    return row["status"], row["provider_payment_id"]


async def _complete(
    whop: WhopClient, unlock: UnlockTerms, payment: Payment, path: str, *, refund_now: bool
) -> Outcome:
    unlock_id = unlock.id
    user, email = _buyer(payment)
    refunded = payment.price_refunded
    if await _won(_COMPLETE_SQL, payment.id, path, refunded, user, email, unlock_id):
        return Outcome("completed", unlock_id, "COMPLETED")
    status, paid_by = await _status(unlock_id)
    if paid_by == payment.id:
        if status == "COMPLETED" and refunded > unlock.refunded_cents:
            if await Unlock.raw(_PARTIAL_SQL, refunded, unlock_id, payment.id, refunded):
                return Outcome("partially_refunded", unlock_id, status)
        return Outcome(
            "already_completed" if status == "COMPLETED" else "already_refunded", unlock_id, status
        )
    # Another payment already paid for this unlock (or the buyer owns the link through
    # another one): this payment is a second charge.
    await Unlock.raw(
        _RECORD_DUPLICATE_SQL, payment.id, unlock_id, payment.price_paid, payment.currency, path
    )
    refunded_now = refund_now and await refund_duplicate(whop, payment.id)
    return Outcome(
        "duplicate_refunded" if refunded_now else "duplicate_refund_pending", unlock_id, status
    )


async def _won(sql: str, *args: Any) -> bool:
    """Run a conditional UPDATE … RETURNING; False when it changed nothing, or when the
    one-completed-unlock-per-buyer index refused it (another payment of the same buyer for
    the same link won a moment ago, in a transaction this one could not see)."""
    transaction = Unlock._meta.db.current_transaction.get()
    savepoint = await transaction.savepoint() if transaction is not None else None
    try:
        rows = await Unlock.raw(sql, *args)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != ONE_COMPLETED_PER_BUYER:
            raise
        if savepoint is not None:
            await savepoint.rollback_to()  # the caller's transaction goes on
        return False
    if savepoint is not None:
        await savepoint.release()
    return bool(rows)


async def _refund(unlock: UnlockTerms, payment: Payment, path: str) -> Outcome:
    unlock_id = unlock.id
    user, email = _buyer(payment)
    won = await Unlock.raw(_REFUND_SQL, payment.id, path, user, email, unlock_id, payment.id)
    if won:
        return Outcome("refunded", unlock_id, "REFUNDED")
    status, paid_by = await _status(unlock_id)
    if paid_by == payment.id:
        return Outcome("already_refunded", unlock_id, status)
    # The refund of a second charge (ours, or the creator's): the unlock is not affected.
    await Unlock.raw(_DUPLICATE_REFUNDED_SQL, payment.id)
    return Outcome("duplicate_refund_seen", unlock_id, status)


async def _fail(unlock: UnlockTerms) -> Outcome:
    unlock_id = unlock.id
    if await Unlock.raw(_FAIL_SQL, unlock_id):
        return Outcome("failed", unlock_id, "FAILED")
    status, _ = await _status(unlock_id)
    return Outcome("failure_ignored", unlock_id, status)  # never demotes a paid unlock


async def refund_duplicate(whop: WhopClient, payment_id: str) -> bool:
    """Refund a recorded second charge through Whop; True once Whop has taken the refund.

    The idempotency key is the payment's, so a retried call (ours, after a crash or a lost
    answer) never refunds twice; a failure is recorded and the reconciler tries again.
    """
    try:
        await whop.refund_payment(payment_id, idempotency_key=f"linkmint-duplicate-{payment_id}")
    except WhopRejected as exc:
        # "Already fully refunded" is a success; anything else waits for a person or a retry.
        try:
            done = provider_state(await whop.retrieve_payment(payment_id)) == "refunded"
        except WhopError:
            done = False
        if not done:
            await Unlock.raw(_DUPLICATE_FAILED_SQL, str(exc)[:2000], payment_id)
            log.warning("could not refund duplicate payment %s: %s", payment_id, exc)
            return False
    except WhopError as exc:
        await Unlock.raw(_DUPLICATE_FAILED_SQL, str(exc)[:2000], payment_id)
        log.warning("could not refund duplicate payment %s yet: %s", payment_id, exc)
        return False
    await Unlock.raw(_DUPLICATE_REFUNDED_SQL, payment_id)
    log.info("refunded duplicate payment %s", payment_id)
    return True


async def converge_unlock(whop: WhopClient, unlock_id: str, path: str) -> Outcome:
    """Ask Whop for every payment of the unlock's checkout and apply them, oldest paid first.

    For when no payment id is at hand: the buyer came back without one, or the reconciler
    looks at an unlock whose redirect and webhook were both lost.
    """
    unlock = await unlock_terms(unlock_id)
    if unlock is None:
        return Outcome("not_ours", unlock_id)
    if not unlock.checkout_id or not unlock.company_id:
        return Outcome("no_checkout", unlock_id, unlock.status)
    payments = [
        p
        async for p in whop.list_payments(
            unlock.company_id, checkout_configuration_ids=[unlock.checkout_id]
        )
    ]
    # Money first (paid or refunded, the oldest winning), then failures.
    payments.sort(key=lambda p: (provider_state(p) not in ("paid", "refunded"), p.created_at))
    outcomes = [await apply_payment(whop, p, path) for p in payments]
    changed = [o for o in outcomes if o.changed]
    status, _ = await _status(unlock_id)
    if changed:
        return Outcome(changed[0].result, unlock_id, status)
    if outcomes:
        return Outcome(outcomes[0].result, unlock_id, status)
    return Outcome("not_paid", unlock_id, status)


async def converge_return(
    whop: WhopClient, unlock_id: str, payment_id: str | None
) -> Outcome | None:
    """The buyer's return from checkout: ask Whop about `payment_id` (without one, about the
    unlock's checkout) and apply the answer, unless another return asked about this unlock
    less than RETURN_ASK_EVERY ago, in any process, or the payment is settled; then None, and
    the page the buyer goes back to shows the unlock as it stands (and polls while pending).

    The claim is one conditional UPDATE, so of any number of returns at once exactly one asks.
    An ask that fails (Whop unreachable, or slower than the return may wait) gives the claim
    back: the next return asks at once instead of finding the unlock throttled.
    """
    rows = await Unlock.raw(_CLAIM_ASK_SQL, unlock_id, RETURN_ASK_EVERY, payment_id, payment_id)
    if not rows:
        return None
    try:
        if payment_id:
            return await converge_payment(whop, payment_id, "redirect")
        return await converge_unlock(whop, unlock_id, "redirect")
    except (WhopError, TimeoutError, asyncio.CancelledError):
        with suppress(Exception):  # at worst the claim lapses by itself in a few seconds
            await Unlock.raw(_RELEASE_ASK_SQL, unlock_id, rows[0]["confirm_asked_at"])
        raise
