"""`linkmint inbox`: app processes started with INBOX_WORKERS=0 process no webhook events;
they announce each one they store, and the inbox process processes it. What is stored while
it is not listening (stopped, or its connection lost) it processes when it listens again."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from contextlib import ExitStack

import asyncpg
import httpx
import pytest

from app.db.engine import app_engine
from app.db.tables import DuplicatePayment, Unlock, WebhookEvent
from app.doctor import inbox_finding
from app.emulator import faults
from app.payments import inbox_process
from app.payments.inbox import ANNOUNCE_CHANNEL, InboxWorkers, receive_webhook
from tests.support.inbox_support import all_processed, processed, stored
from tests.support.servers import ROOT, start_inbox, start_server
from tests.support.unlock_support import (
    add_premium,
    make_seller,
    pay,
    query_of,
    signed_event,
    start_checkout,
)
from tests.support.whop_testkit import emulator_control, eventually  # noqa: F401

# --- the app process's side: nothing queued, every stored event announced ---------------


async def test_a_process_without_workers_queues_nothing_and_announces():
    workers = InboxWorkers(concurrency=0)
    assert workers.announces
    async with workers.lifespan()(None):
        assert workers.submit("msg_nobody") is False
        assert workers.busy == 0
    assert not InboxWorkers(concurrency=2).announces


async def test_a_stored_event_is_announced_as_it_commits_and_a_redelivery_again(settings):
    heard: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(app_engine().direct_dsn)
    try:
        await conn.add_listener(ANNOUNCE_CHANNEL, lambda *args: heard.put_nowait(args[-1]))
        body, headers = signed_event(settings, "membership.activated", {"id": "mem_9"})
        secret = settings.whop_webhook_secret
        receipt = await receive_webhook(secret, headers, body, announce=True)
        assert receipt.status == 200 and receipt.text == "stored\n"
        assert await asyncio.wait_for(heard.get(), 5) == headers["webhook-id"]
        # Delivered again while not processed: the nudge reaches the inbox process too.
        again = await receive_webhook(secret, headers, body, announce=True)
        assert again.text == "duplicate\n"
        assert await asyncio.wait_for(heard.get(), 5) == headers["webhook-id"]
        # Once processed, a redelivery has nothing to announce.
        await WebhookEvent.raw(
            "UPDATE webhook_event SET processed_at = now() WHERE id = {}", headers["webhook-id"]
        )
        assert (await receive_webhook(secret, headers, body, announce=True)).status == 200
        # A process with workers of its own announces nothing.
        body, headers = signed_event(settings, "membership.activated", {"id": "mem_10"})
        assert (await receive_webhook(secret, headers, body)).text == "stored\n"
        await asyncio.sleep(0.3)
        assert heard.empty()
    finally:
        await conn.close()


# --- the inbox process, in this test's event loop -------------------------------------------


async def test_the_inbox_process_catches_up_whenever_it_listens_again(settings):
    before = await stored("msg_before_start")  # stored while no inbox process ran
    stop = asyncio.Event()
    up: asyncio.Future[inbox_process.Announcements] = asyncio.get_running_loop().create_future()
    running = asyncio.create_task(inbox_process.run(settings, stop, workers=1, ready=up.set_result))
    try:
        announcements = await asyncio.wait_for(up, 10)
        await eventually(lambda: processed(before), within=5)  # caught up as it began to listen

        announced = await stored("msg_announced", announce=True)
        await eventually(lambda: processed(announced), within=5)

        # Never announced (stored as if while nobody listened), then the connection drops:
        # the reconnection's catch-up processes it.
        await eventually(lambda: announcements.listener.server_pid is not None, within=5)
        first_catch_up = announcements.catching_up
        missed = await stored("msg_missed")
        await asyncio.sleep(0.3)
        assert not await processed(missed)
        await WebhookEvent.raw("SELECT pg_terminate_backend({})", announcements.listener.server_pid)
        await eventually(lambda: announcements.catching_up is not first_catch_up, within=10)
        await eventually(lambda: processed(missed), within=10)
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)


async def test_one_inbox_process_processes_at_a_time_and_a_standby_takes_over(settings):
    finding = await inbox_finding(app_engine())
    assert not finding.ok and "no `linkmint inbox` is processing" in finding.detail
    assert "deploy/systemd/linkmint-inbox.service" in finding.fix
    loop = asyncio.get_running_loop()
    stops = [asyncio.Event(), asyncio.Event()]
    ups: list[asyncio.Future[inbox_process.Announcements]] = [loop.create_future() for _ in "ab"]
    first = asyncio.create_task(
        inbox_process.run(settings, stops[0], workers=1, ready=ups[0].set_result)
    )
    second = None
    try:
        await asyncio.wait_for(ups[0], 10)
        finding = await inbox_finding(app_engine())
        assert finding.ok and "holds its turn" in finding.detail

        second = asyncio.create_task(
            inbox_process.run(settings, stops[1], workers=1, ready=ups[1].set_result)
        )
        await asyncio.sleep(1.5)
        assert not ups[1].done()  # standing by while the first one processes
        stops[0].set()
        await asyncio.wait_for(first, 15)
        await asyncio.wait_for(ups[1], 10)  # took over
        event = await stored("msg_after_takeover", announce=True)
        await eventually(lambda: processed(event), within=5)
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(first, *([second] if second else [])), 15)
    assert not (await inbox_finding(app_engine())).ok  # both stopped: nobody holds the turn


# --- `linkmint inbox` beside a real app process ---------------------------------------------


async def deliver(http: httpx.AsyncClient, delivery: tuple[bytes, dict[str, str]]) -> str:
    body, headers = delivery
    r = await http.post("/webhooks/whop", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return headers["webhook-id"]


@pytest.mark.usefixtures("emulator_control")
async def test_payments_announced_by_an_app_process_are_processed_by_linkmint_inbox(
    client, settings, make_creator
):
    await faults.add_fault("drop", attempts=4, times=50)  # only our deliveries tell the app
    seller = await make_seller(client, settings, make_creator, "alice")
    unlocks = []
    for n in range(4):
        link = await add_premium(seller, title=f"Recipe {n}", position=n)
        unlock_id, purchase_url = await start_checkout(client, link["id"])
        r = await pay(client, purchase_url)  # and never comes back to the app
        unlocks.append((unlock_id, query_of(r.headers["location"])["payment_id"]))
    deliveries = [
        signed_event(settings, "payment.succeeded", {"id": payment_id})
        for _, payment_id in unlocks
        for _ in range(2)  # each payment announced by two events, as Whop may
    ]

    with ExitStack() as stack:
        web = start_server(stack, "announcing", env={"INBOX_WORKERS": "0"})
        await asyncio.to_thread(web.wait_ready)
        async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
            early = [await deliver(http, d) for d in deliveries[:4]]
            await asyncio.sleep(0.5)
            assert not any([await processed(i) for i in early])  # the app process took none

            inbox, log_path = await asyncio.to_thread(
                start_inbox, stack, web.url, "--workers", "1", "--whop-reads", "3"
            )
            await eventually(lambda: all_processed(early), within=10)  # caught up at start

            began = time.monotonic()
            late = [await deliver(http, d) for d in deliveries[4:]]
            await eventually(lambda: all_processed(late), within=10)
            took = time.monotonic() - began
        inbox.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(inbox.wait, 15) == 0
    print(f"announced events processed {took:.2f}s after their deliveries began")
    assert took < 5  # announced: long before any drainer (30 s at the least) would have

    for unlock_id, payment_id in unlocks:
        [row] = await Unlock.select().where(Unlock.id == unlock_id)
        assert row["status"] == "COMPLETED" and row["provider_payment_id"] == payment_id
        assert row["completed_via"] == "webhook"
    assert await DuplicatePayment.count() == 0
    logged = log_path.read_text()
    assert "at once: 1; events per batch: up to 100; Whop reads in flight: up to 3" in logged
    assert "stopping" in logged


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--workers", "0"], "--workers: must be between 1 and 64"),
        (["--whop-reads", "many"], "--whop-reads: 'many' is not a whole number"),
    ],
)
def test_the_inbox_command_refuses_counts_out_of_bounds(args, says):
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "inbox", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert says in done.stderr
