"""A real `linkmint serve` stopped in the middle of a burst of Whop deliveries — asked to stop
(SIGTERM) or killed (SIGKILL) — loses nothing it answered: once a process starts again on
the same database, every event it stored is processed, and each payment takes effect once.

When it stops, one worker is inside a call to Whop that hangs (longer than the shutdown's
grace), the other is working through the queue, and deliveries are still arriving.
"""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import signal
import time
from contextlib import ExitStack

import httpx
import pytest

from app.db.tables import DuplicatePayment, Unlock, WebhookEvent
from app.emulator import faults
from tests.support.servers import Server, start_server
from tests.support.unlock_support import (
    add_premium,
    make_seller,
    pay,
    query_of,
    signed_event,
    start_checkout,
)
from tests.support.whop_testkit import emulator_control, eventually  # noqa: F401

pytestmark = [pytest.mark.usefixtures("emulator_control"), pytest.mark.costly]

PAYMENTS = 4
COPIES = 3  # deliveries of each payment under event ids of their own, as Whop may send
FILLER = 150  # events that change nothing (membership.activated), to make a queue
HANG = 8  # seconds Whop takes to answer the first payment lookup: beyond the 5 s grace


async def paid_unlocks(client, settings, make_creator) -> list[tuple[str, str]]:
    """A buyer pays for PAYMENTS links and nothing tells the app yet: (unlock, payment)."""
    # The emulator's own deliveries are lost, so only the burst below tells the app.
    await faults.add_fault("drop", attempts=4, times=50)
    seller = await make_seller(client, settings, make_creator, "alice")
    unlocks = []
    for n in range(PAYMENTS):
        link = await add_premium(seller, title=f"Recipe {n}", position=n)
        unlock_id, purchase_url = await start_checkout(client, link["id"])
        r = await pay(client, purchase_url)  # and never comes back to the app
        assert r.status_code == 303
        unlocks.append((unlock_id, query_of(r.headers["location"])["payment_id"]))
    return unlocks


async def deliver(http: httpx.AsyncClient, delivery: tuple[bytes, dict[str, str]]) -> str | None:
    """The delivery's webhook-id if the server answered 2xx, else None."""
    body, headers = delivery
    try:
        r = await http.post("/webhooks/whop", content=body, headers=headers)
    except httpx.HTTPError:  # the server stopped under it
        return None
    return headers["webhook-id"] if r.is_success else None


async def burst_then_stop(server: Server, deliveries, how: signal.Signals) -> list[str]:
    """Send `deliveries` 16 at a time; stop the server with `how` once half are answered.
    The webhook-ids it answered 2xx."""
    answered: list[str] = []
    halfway = asyncio.Event()
    gate = asyncio.Semaphore(16)  # (not the pool's limit: a request queued there times out)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:

        async def one(delivery) -> None:
            async with gate:
                if webhook_id := await deliver(http, delivery):
                    answered.append(webhook_id)
                    if len(answered) >= len(deliveries) // 2:
                        halfway.set()

        sending = [asyncio.create_task(one(d)) for d in deliveries]
        await asyncio.wait_for(halfway.wait(), 15)
        server.process.send_signal(how)
        await asyncio.gather(*sending)
    await asyncio.to_thread(server.process.wait, 30)
    return answered


async def hang_taken(fault_id: int) -> bool:
    return all(f["id"] != fault_id for f in await faults.list_faults())


async def unprocessed() -> int:
    return await WebhookEvent.count().where(WebhookEvent.processed_at.is_null())


async def everything_processed() -> bool:
    return await unprocessed() == 0


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_every_event_a_stopped_server_answered_is_processed_after_a_restart(
    client, settings, make_creator, how
):
    unlocks = await paid_unlocks(client, settings, make_creator)
    (_, first_payment), *others = unlocks
    # The first payment is delivered once, first, and Whop hangs on it: a worker holds it.
    hang = await faults.add_fault("api", method="GET", path="/payments/*", hang=HANG, times=1)
    copies = [
        signed_event(settings, "payment.succeeded", {"id": payment_id})
        for _, payment_id in others
        for _ in range(COPIES)
    ]
    filler = [
        signed_event(settings, "membership.activated", {"id": f"mem_{n}"}) for n in range(FILLER)
    ]
    burst = filler[: FILLER // 3] + copies + filler[FILLER // 3 :]

    with ExitStack() as stack:
        doomed = start_server(stack, f"doomed-{how.name.lower()}")
        await asyncio.to_thread(doomed.wait_ready)
        async with httpx.AsyncClient(base_url=doomed.url, timeout=10) as http:
            once = signed_event(settings, "payment.succeeded", {"id": first_payment})
            first = await deliver(http, once)
        assert first is not None
        await eventually(lambda: hang_taken(hang["id"]), within=5)  # a worker waits on Whop
        answered = [first, *await burst_then_stop(doomed, burst, how)]
    stored = {row["id"] for row in await WebhookEvent.select(WebhookEvent.id)}
    assert set(answered) <= stored
    left = await unprocessed()
    assert left > 0  # the stop did leave work behind (at least the event Whop hung on)

    with ExitStack() as stack:
        started = time.monotonic()
        # (Its maintenance pass stays an hour away, as in every test server: the reconciler's
        # sweep would complete a paid unlock whatever became of its event, hiding a payment
        # event marked processed without its effect. What it must drain, it drains at start.)
        successor = start_server(stack, "successor")
        await asyncio.to_thread(successor.wait_ready)
        await eventually(everything_processed, within=15)
        took = time.monotonic() - started
    print(f"{len(answered)} answered, {left} left unprocessed; all processed {took:.1f}s later")

    for unlock_id, payment_id in unlocks:
        [row] = await Unlock.select().where(Unlock.id == unlock_id)
        assert row["status"] == "COMPLETED" and row["provider_payment_id"] == payment_id
        assert row["completed_via"] == "webhook"
    assert await Unlock.count().where(Unlock.status == "COMPLETED") == PAYMENTS
    assert await DuplicatePayment.count() == 0  # no payment was taken for a second charge
