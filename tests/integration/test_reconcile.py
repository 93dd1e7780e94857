"""Reconciliation: what the redirect and the webhook both missed, Whop's API settles."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest

from app.db.tables import Unlock, WebhookEvent
from app.emulator import faults
from app.payments import metrics
from app.payments.convergence import converge_payment
from app.payments.reconcile import (
    MAINTENANCE_LOCK,
    maintenance_lifespan,
    reconcile,
    run_maintenance,
)
from tests.conftest import ROOT
from tests.integration.convergence_support import (  # noqa: F401 (fixtures)
    buy,
    open_unlock,
    quiet_whop,
    seller,
    status_of,
)
from tests.integration.unlock_support import DECLINES, signed_event
from tests.integration.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    eventually,
    live_settings,
    sleeps,
    whop,
)

pytestmark = pytest.mark.usefixtures("quiet_whop")
NOW = timedelta(0)


async def test_an_unlock_whose_redirect_and_webhook_were_both_lost_is_completed(whop, seller):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    report = await reconcile(whop, older_than=NOW)
    assert report.checked == 1 and report.results == {"completed": 1}
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["completed_via"] == "reconcile"
    assert row["provider_payment_id"] == payment_id
    assert (await reconcile(whop, older_than=NOW)).checked == 0  # nothing pending any more


async def test_fresh_pending_unlocks_are_left_to_the_buyer_and_the_webhook(whop, seller):
    unlock = await open_unlock(whop, seller)
    await buy(whop, unlock)
    assert (await reconcile(whop)).checked == 0
    assert (await status_of(unlock["id"]))["status"] == "PENDING"


async def test_an_abandoned_checkout_is_asked_about_every_few_minutes_not_every_run(
    whop, seller
):
    unlock = await open_unlock(whop, seller)
    assert (await reconcile(whop, older_than=NOW)).results == {"not_paid": 1}
    assert (await reconcile(whop, older_than=NOW)).checked == 0  # asked a moment ago
    assert (await reconcile(whop, older_than=NOW, recheck_after=NOW)).checked == 1
    assert (await status_of(unlock["id"]))["reconciled_at"] is not None


async def test_an_unpaid_unlock_expires_after_an_hour_and_a_paid_old_one_completes(
    whop, seller
):
    unpaid = await open_unlock(whop, seller)
    paid_late = await open_unlock(whop, seller)
    await buy(whop, paid_late)
    never_started = await open_unlock(whop, seller)
    await Unlock.update({Unlock.checkout_id: None, Unlock.purchase_url: None}).where(
        Unlock.id == never_started["id"]
    )
    expired_before = metrics.REGISTRY.get_sample_value("linkmint_unlocks_expired_total") or 0
    assert (await reconcile(whop, older_than=NOW)).expired == 0  # an hour is not up yet

    report = await reconcile(whop, older_than=NOW, expire_after=NOW)
    assert report.expired == 2
    assert (await status_of(unpaid["id"]))["status"] == "EXPIRED"
    assert (await status_of(never_started["id"]))["status"] == "EXPIRED"
    assert (await status_of(paid_late["id"]))["status"] == "COMPLETED"
    assert metrics.REGISTRY.get_sample_value("linkmint_unlocks_expired_total") == (
        expired_before + 2
    )


async def test_whop_being_down_expires_nothing(whop, seller):
    unlock = await open_unlock(whop, seller)
    await faults.add_fault("api", method="GET", path="/payments", status=503, times=3)
    report = await reconcile(whop, older_than=NOW, expire_after=NOW)
    assert report.errors == 1 and report.expired == 0
    assert (await status_of(unlock["id"]))["status"] == "PENDING"


async def test_a_declined_then_paid_checkout_is_found_even_after_the_failure_was_seen(
    whop, seller
):
    unlock = await open_unlock(whop, seller)
    declined = await buy(whop, unlock, card=DECLINES)
    await converge_payment(whop, declined, "webhook")
    await buy(whop, unlock)  # its redirect and webhook are lost
    report = await reconcile(whop, older_than=NOW)
    assert report.results == {"completed": 1}
    assert (await status_of(unlock["id"]))["status"] == "COMPLETED"


async def test_one_process_at_a_time_runs_the_maintenance_pass(whop, seller):
    from piccolo.engine import engine_finder

    holder = await engine_finder().get_new_connection()
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", MAINTENANCE_LOCK)
        assert await run_maintenance(whop) is None  # another process holds it
    finally:
        await holder.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK)
        await holder.close()
    unlock = await open_unlock(whop, seller)
    await buy(whop, unlock)
    done = await eventually(lambda: run_maintenance(whop, older_than=NOW))  # (the live
    drained, reconciled = done  # server's own pass may hold the lock for a moment)
    assert reconciled.results == {"completed": 1}


async def test_the_background_task_reconciles_without_being_asked(whop, seller):
    unlock = await open_unlock(whop, seller)
    await buy(whop, unlock)
    app = SimpleNamespace(state=SimpleNamespace(whop=whop))
    async with maintenance_lifespan(period=0.2, older_than=NOW)(app):

        async def done():
            return (await status_of(unlock["id"]))["status"] == "COMPLETED"

        await eventually(done, within=10)


async def test_the_drainer_processes_an_old_unprocessed_event(whop, seller, settings):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
    await WebhookEvent.raw(
        "INSERT INTO webhook_event (id, type, payload) VALUES ({}, 'payment.succeeded', {}::jsonb)",
        headers["webhook-id"],
        body.decode(),
    )
    drained, _ = await eventually(lambda: run_maintenance(whop, min_age=NOW))
    assert headers["webhook-id"] in drained.tried
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["completed_via"] == "webhook"


# --- the operator's commands ----------------------------------------------------------------


def linkmint(live_server: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APP_URL": live_server, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


async def test_linkmint_reconcile_completes_and_reports(whop, seller, live_server):
    unlock = await open_unlock(whop, seller)
    await buy(whop, unlock)
    done = await asyncio.to_thread(linkmint, live_server, "reconcile", "--older-than", "0")
    assert done.returncode == 0, done.stderr
    assert "checked 1 unlock(s): 1 completed" in done.stdout
    assert (await status_of(unlock["id"]))["completed_via"] == "reconcile"


async def test_linkmint_replay_webhooks_processes_the_stored_events(
    whop, seller, live_server, settings
):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
    await WebhookEvent.raw(
        "INSERT INTO webhook_event (id, type, payload, attempts, last_error) "
        "VALUES ({}, 'payment.succeeded', {}::jsonb, 99, 'Whop was down')",
        headers["webhook-id"],
        body.decode(),
    )
    done = await asyncio.to_thread(linkmint, live_server, "replay-webhooks")
    assert done.returncode == 0, done.stderr
    assert "1 processed" in done.stdout
    assert (await status_of(unlock["id"]))["status"] == "COMPLETED"
