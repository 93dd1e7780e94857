"""What Whop's payment and refund events mean for unlocks (registered with `app.whop.events`).

An event only says which payment to ask Whop about; the answer is converged like the
buyer's return and the reconciler's (`app.payments.convergence`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.payments.convergence import apply_payment, learn_plan, refund_duplicate, unknown_payment
from app.whop import WhopClient, WhopNotFound
from app.whop.events import AfterCommit, Change, done, event_data, handles, whop_id

log = logging.getLogger("app.payments.inbox")

PAYMENT_EVENTS = ("payment.succeeded", "payment.failed")
REFUND_EVENTS = ("refund.created", "refund.updated")


@handles(*PAYMENT_EVENTS)
async def payment_event(
    whop: WhopClient, event_type: str, payload: Mapping[str, Any], after_commit: AfterCommit | None
) -> Change:
    data = event_data(payload)
    return await _converge(whop, event_type, whop_id(data.get("id")), after_commit)


@handles(*REFUND_EVENTS)
async def refund_event(
    whop: WhopClient, event_type: str, payload: Mapping[str, Any], after_commit: AfterCommit | None
) -> Change:
    data = event_data(payload)
    payment = data.get("payment")
    payment_id = whop_id(payment.get("id") if isinstance(payment, Mapping) else None)
    payment_id = payment_id or whop_id(data.get("payment_id"))
    return await _converge(whop, event_type, payment_id, after_commit)


async def _converge(
    whop: WhopClient, event_type: str, payment_id: str | None, after_commit: AfterCommit | None
) -> Change:
    if payment_id is None:
        log.warning("%s event without a payment id; nothing to converge", event_type)
        return done("no_payment")
    try:
        found = await whop.retrieve_payment(payment_id)
    except WhopNotFound:
        return done(unknown_payment(payment_id, "webhook").result)
    terms = await learn_plan(whop, found)  # asks Whop, so before the transaction

    async def converge() -> str:
        refund_now = after_commit is None
        outcome = await apply_payment(whop, found, "webhook", refund_now=refund_now, terms=terms)
        if outcome.result == "duplicate_refund_pending" and after_commit is not None:
            after_commit.append(lambda: refund_duplicate(whop, found.id))
        return outcome.result

    return converge
