"""Signed webhook deliveries for the ingest scenario, and the exactly-once check after it.

Each event is a `payment.succeeded` for a PENDING unlock whose payment really exists, paid,
at the emulated Whop (so convergence, which asks Whop, completes it). The deliveries are
signed before the run the way Whop signs them (`app.whop.webhooks.sign_webhook`), and about
10 % of them are redeliveries of an earlier event: same `webhook-id` and body, a later
timestamp and its own signature — half soon after the original (while it may still be in
flight), half a little later. Both stay close to their original, so whatever prefix of the
pool a run gets through carries about the same share of redeliveries.

Afterwards the check reconstructs which deliveries wrk sent (each wrk thread sends its
share of the file in order), re-sends once any whose event is not in the inbox (wrk was
stopped mid-request; Whop would retry those too), and then requires, for every event sent:
one inbox row, processed; its unlock COMPLETED by exactly that payment; no refund at Whop;
and every unlock whose event was never sent still PENDING.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.whop.webhooks import sign_webhook
from bench.dataset import Dataset, Unlock, make_id, new_unlock, to_major
from bench.wrk import Request

WEBHOOK_PATH = "/webhooks/whop"
SOON = 64  # "soon" redeliveries land within this many deliveries of their original …
LATER = 500  # … "later" ones within this many (half a second at the target rate)
RETRY_DELAY = 10  # seconds: Whop's first retry comes 10 s after the first attempt


@dataclass(frozen=True, slots=True)
class Delivery:
    webhook_id: str
    timestamp: int
    body: str  # compact JSON, exactly the bytes that were signed
    signature: str
    unlock_id: str
    payment_id: str
    redelivery: bool

    def headers(self) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "webhook-id": self.webhook_id,
            "webhook-timestamp": str(self.timestamp),
            "webhook-signature": self.signature,
        }

    def request(self) -> Request:
        return Request("POST", WEBHOOK_PATH, self.headers(), self.body)


@dataclass(slots=True)
class WebhookPool:
    deliveries: list[Delivery] = field(default_factory=list)
    unlocks: list[Unlock] = field(default_factory=list)
    checkouts: list[tuple] = field(default_factory=list)  # whop_emulator.checkout_configuration
    payments: list[tuple] = field(default_factory=list)  # whop_emulator.payment

    @property
    def events(self) -> int:
        return len(self.unlocks)


CHECKOUT_COLUMNS = ("id", "company_id", "plan_id", "metadata")
PAYMENT_COLUMNS = (
    "id",
    "company_id",
    "plan_id",
    "checkout_configuration_id",
    "status",
    "substatus",
    "currency",
    "total",
    "application_fee",
    "metadata",
    "user_id",
    "user_email",
    "card_brand",
    "card_last4",
    "created_at",
    "updated_at",
    "paid_at",
)


def payment_json(row: Mapping) -> dict:
    """Whop's Payment object for a row, built by the emulator's own shape function."""
    from app.emulator import shapes

    return shapes.payment(row)


@dataclass(frozen=True, slots=True)
class Sale:
    """What Whop's payment for one unlock must carry to match it (`convergence.mismatch`)."""

    unlock_id: str
    company_id: str
    company_title: str
    plan_id: str
    checkout_id: str
    price_cents: int
    fee_cents: int
    currency: str


def paid_payment(rng: random.Random, sale: Sale, moment: datetime) -> dict:
    """The emulated Whop's row of a paid payment for `sale`, as its checkout records one."""
    return {
        "id": make_id(rng, "pay_"),
        "company_id": sale.company_id,
        "company_title": sale.company_title,
        "plan_id": sale.plan_id,
        "checkout_configuration_id": sale.checkout_id,
        "status": "paid",
        "substatus": "succeeded",
        "currency": sale.currency,
        "total": to_major(sale.price_cents),
        "application_fee": to_major(sale.fee_cents),
        "refunded_amount": to_major(0),
        "tax_amount": to_major(0),
        "tax_refunded_amount": to_major(0),
        "metadata": json.dumps({"unlock_id": sale.unlock_id}),
        "user_id": make_id(rng, "user_"),
        "user_email": f"buyer{rng.randrange(10**9)}@example.com",
        # No whop_user row stands behind the buyer: the emulator's join reads NULL here.
        "user_name": None,
        "user_username": None,
        "card_brand": "visa",
        "card_last4": "4242",
        "failure_message": None,
        "created_at": moment,
        "updated_at": moment,
        "paid_at": moment,
        "refunded_at": None,
    }


def signed_delivery(
    rng: random.Random,
    sale: Sale,
    row: Mapping,
    *,
    secret: str,
    now: int,
    payment_shape: Callable[[Mapping], dict] = payment_json,
) -> Delivery:
    """Whop's `payment.succeeded` for the payment `row`, signed at `now` as Whop signs it."""
    event_id = make_id(rng, "evt_")
    moment = datetime.fromtimestamp(now, UTC)
    body = json.dumps(
        {
            "id": event_id,
            "api_version": "v1",
            "type": "payment.succeeded",
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "company_id": sale.company_id,
            "data": payment_shape(row),
        },
        separators=(",", ":"),
    )
    return Delivery(
        webhook_id=event_id,
        timestamp=now,
        body=body,
        signature=sign_webhook(secret, event_id, now, body.encode()),
        unlock_id=sale.unlock_id,
        payment_id=row["id"],
        redelivery=False,
    )


def build_pool(
    rng: random.Random,
    data: Dataset,
    *,
    events: int,
    duplicate_share: float,
    secret: str,
    now: int,
    fee_for: Callable[[int], int],
    currency: str = "usd",
    payment_shape: Callable[[Mapping], dict] = payment_json,
) -> WebhookPool:
    """`events` paid unlocks and their deliveries; `duplicate_share` of the deliveries are
    redeliveries of an event already in the sequence."""
    if not 0 <= duplicate_share < 1:
        raise ValueError("duplicate_share must be in [0, 1)")
    pool = WebhookPool()
    premium = [link for link in data.premium_links() if link.enabled]
    moment = datetime.fromtimestamp(now, UTC)
    originals: list[Delivery] = []
    for _ in range(events):
        link = rng.choice(premium)
        creator = data.creator(link.creator_id)
        unlock = new_unlock(rng, link, status="PENDING", fee_for=fee_for, currency=currency)
        sale = Sale(
            unlock.id,
            creator.whop_company_id or "",
            creator.display_name,
            link.plan_id or "",
            unlock.checkout_id,
            unlock.price_cents,
            unlock.fee_cents,
            currency,
        )
        row = paid_payment(rng, sale, moment)
        pool.unlocks.append(unlock)
        pool.checkouts.append((sale.checkout_id, sale.company_id, sale.plan_id, row["metadata"]))
        pool.payments.append(tuple(row[name] for name in PAYMENT_COLUMNS))
        originals.append(
            signed_delivery(rng, sale, row, secret=secret, now=now, payment_shape=payment_shape)
        )
    redeliveries = round(events * duplicate_share / (1 - duplicate_share))
    keyed: list[tuple[float, Delivery]] = [(float(i), d) for i, d in enumerate(originals)]
    for k in range(redeliveries):
        index = rng.randrange(events)
        original = originals[index]
        gap = rng.uniform(1, SOON) if k % 2 == 0 else rng.uniform(SOON, LATER)
        ts = now + RETRY_DELAY
        again = Delivery(
            webhook_id=original.webhook_id,
            timestamp=ts,
            body=original.body,
            signature=sign_webhook(secret, original.webhook_id, ts, original.body.encode()),
            unlock_id=original.unlock_id,
            payment_id=original.payment_id,
            redelivery=True,
        )
        keyed.append((index + gap, again))
    keyed.sort(key=lambda pair: pair[0])
    pool.deliveries = [d for _, d in keyed]
    return pool


def sent_deliveries(deliveries: Sequence[Delivery], sent_per_thread: Sequence[int]) -> list:
    """The deliveries wrk sent: thread t of n sends lines t, t+n, … in order (requests.lua)."""
    n = len(sent_per_thread)
    out: list[Delivery] = []
    for t, count in enumerate(sent_per_thread):
        mine = deliveries[t::n]
        out.extend(mine if count >= len(mine) else mine[:count])
    return out


@dataclass(frozen=True, slots=True)
class Verdict:
    sent: int  # deliveries sent (originals and redeliveries)
    events: int  # distinct events among them
    redeliveries: int
    retried_after_run: int
    problems: tuple[str, ...]
    settled_after_s: float | None = None  # from the end of the run to the last event processed
    processing_window_s: float | None = None  # first delivery received -> last event processed

    @property
    def processing_rate(self) -> float | None:
        """Events processed per second, end to end, over both runs (pool building between
        them included, so a lower bound)."""
        if not self.processing_window_s:
            return None
        return self.events / self.processing_window_s

    @property
    def exactly_once(self) -> bool:
        return not self.problems and self.events > 0

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "events": self.events,
            "redeliveries": self.redeliveries,
            "duplicate_share": round(self.redeliveries / self.sent, 3) if self.sent else 0,
            "retried_after_run": self.retried_after_run,
            "exactly_once": self.exactly_once,
            "problems": list(self.problems),
            "settled_after_s": self.settled_after_s,
            "processing_window_s": self.processing_window_s,
            "processing_rate": self.processing_rate,
        }


def judge(
    pool_unlocks: Iterable[Unlock],
    sent: Sequence[Delivery],
    *,
    inbox: Mapping[str, bool],
    unlocks: Mapping[str, tuple[str, str | None]],
    refunds: int,
    retried_after_run: int = 0,
    settled_after_s: float | None = None,
    processing_window_s: float | None = None,
) -> Verdict:
    """Every sent event stored once and processed, its unlock completed by its payment, no
    refunds, nothing else touched.

    `inbox`: webhook id → processed, for the pool's ids found in `webhook_event`;
    `unlocks`: unlock id → (status, provider_payment_id) for the pool's unlocks.
    """
    expected = {d.webhook_id: d for d in sent}
    problems: list[str] = []

    def note(what: str, ids: Iterable[str]) -> None:
        ids = sorted(ids)
        if ids:
            problems.append(f"{len(ids)} {what} (e.g. {', '.join(ids[:3])})")

    note("sent events missing from the inbox", expected.keys() - inbox.keys())
    note("inbox rows for events never sent", inbox.keys() - expected.keys())
    note("events stored but not processed", [k for k, done in inbox.items() if not done])
    wrong = []
    for d in expected.values():
        status, payment = unlocks.get(d.unlock_id, ("missing", None))
        if status != "COMPLETED" or payment != d.payment_id:
            wrong.append(d.unlock_id)
    note("unlocks not COMPLETED by their payment", wrong)
    paid_for = {d.unlock_id for d in expected.values()}
    touched = [
        u.id
        for u in pool_unlocks
        if u.id not in paid_for and unlocks.get(u.id, ("missing", None))[0] != "PENDING"
    ]
    note("unlocks changed although their event was never sent", touched)
    if refunds:
        problems.append(f"{refunds} refunds issued at Whop for the pool's payments")
    return Verdict(
        sent=len(sent),
        events=len(expected),
        redeliveries=len(sent) - len(expected),
        retried_after_run=retried_after_run,
        problems=tuple(problems),
        settled_after_s=settled_after_s,
        processing_window_s=processing_window_s,
    )


async def write_pool(database_url: str, pool: WebhookPool) -> None:
    """Put the pool's PENDING unlocks in the app's tables and their checkouts and paid
    payments at the emulated Whop, so convergence finds what the deliveries announce."""
    import asyncpg

    from bench.dataset import UNLOCK_COLUMNS, copy_rows, unlock_record

    now = datetime.now(UTC)
    conn = await asyncpg.connect(database_url)
    try:
        records = [unlock_record(u, created_at=now) for u in pool.unlocks]
        await copy_rows(conn, "unlock", UNLOCK_COLUMNS, records)
        await copy_rows(
            conn, "checkout_configuration", CHECKOUT_COLUMNS, pool.checkouts,
            schema="whop_emulator",
        )  # fmt: skip
        await copy_rows(conn, "payment", PAYMENT_COLUMNS, pool.payments, schema="whop_emulator")
        await conn.execute("ANALYZE unlock")
    finally:
        await conn.close()
