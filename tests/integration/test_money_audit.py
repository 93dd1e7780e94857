"""The money audit: per creator and currency, our books beside Whop's for a period, every
payment whose two stories differ, the operator's command and the figures on /metrics."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.db.tables import MoneyAudit, Unlock
from app.payments.audit import audit, audit_yesterday_if_due, store
from app.payments.convergence import converge_payment
from app.payments.reconcile import SweepOptions, reconcile
from tests.support.convergence_support import (  # noqa: F401 (fixtures)
    buy,
    open_unlock,
    quiet_whop,
    seller,
    status_of,
)
from tests.support.pages import samples
from tests.support.servers import linkmint
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    live_settings,
    sleeps,
    whop,
)

pytestmark = pytest.mark.usefixtures("quiet_whop")
NOW = SweepOptions(every=timedelta(0), calls=100)


def today() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=1)


async def a_day_of_sales(whop, seller) -> dict[str, str]:
    """A sale, a refunded sale, a partly refunded one and a refunded second charge, all
    converged; returns their payment ids."""
    kept, refunded, partly, twice = [await open_unlock(whop, seller) for _ in range(4)]
    ids = {}
    for name, unlock in (
        ("kept", kept),
        ("refunded", refunded),
        ("partly", partly),
        ("twice", twice),
    ):
        ids[name] = await buy(whop, unlock)
        await converge_payment(whop, ids[name], "redirect")
    ids["second"] = await buy(whop, twice)
    await converge_payment(whop, ids["second"], "webhook")  # refunded as a duplicate
    await whop.refund_payment(ids["refunded"])
    await whop.refund_payment(ids["partly"], amount=120, currency="usd")
    await reconcile(whop, NOW)
    ids["unlock_kept"] = kept["id"]
    return ids


async def test_books_that_match_whop_report_each_creators_totals_and_no_difference(whop, seller):
    await a_day_of_sales(whop, seller)
    report = await audit(whop, *today())
    assert report.clean, "\n".join(report.lines())
    [books] = report.books.values()
    assert (books.creator, books.currency) == ("seller", "usd")
    assert (books.paid, books.whop_paid) == (5 * 500, 5 * 500)
    assert (books.refunded, books.whop_refunded) == (500 + 120 + 500, 500 + 120 + 500)
    assert report.calls == 1  # one company, one page
    text = "\n".join(report.lines())
    assert "seller   usd     $25.00        $25.00         $11.20            $11.20" in text
    assert text.endswith("Every payment matches.")


async def test_every_payment_whose_stories_differ_is_listed_with_why(whop, seller):
    unlock = await open_unlock(whop, seller)
    lost = await buy(whop, unlock)  # paid at Whop; neither redirect nor webhook arrived
    sold = await open_unlock(whop, seller)
    refunded_there = await buy(whop, sold)
    await converge_payment(whop, refunded_there, "redirect")
    await whop.refund_payment(refunded_there)  # and the refund's webhooks were lost

    report = await audit(whop, *today())
    assert not report.clean
    why = {d.payment_id: (d.whop, d.ours) for d in report.differences}
    assert why == {
        lost: ("paid $5.00", "no unlock paid by it (unlock is PENDING)"),
        refunded_there: ("refunded ($5.00)", "COMPLETED, not refunded"),
    }
    [books] = report.books.values()
    assert (books.paid, books.whop_paid, books.refunded, books.whop_refunded) == (
        500,
        1000,
        0,
        500,
    )
    # What the sweep exists for: after one pass, the books agree.
    await reconcile(whop, NOW)
    assert (await audit(whop, *today())).clean


async def test_a_payment_we_recorded_that_whop_does_not_know_is_a_difference(whop, seller):
    unlock = await open_unlock(whop, seller)
    await Unlock.raw(
        "UPDATE unlock SET status = 'COMPLETED', provider_payment_id = 'pay_Invented0001', "
        "completed_via = 'redirect', completed_at = now() WHERE id = {}",
        unlock["id"],
    )
    report = await audit(whop, *today())
    [difference] = report.differences
    assert difference.payment_id == "pay_Invented0001"
    assert difference.whop == "no such payment" and unlock["id"] in difference.ours
    assert report.calls == 2  # the list, then that payment by id


async def test_payments_outside_the_period_are_left_out(whop, seller):
    await a_day_of_sales(whop, seller)
    later = datetime.now(UTC) + timedelta(minutes=5)
    report = await audit(whop, later, later + timedelta(hours=1))
    assert report.clean and report.books == {}
    assert "No payments in this period." in report.lines()


async def test_linkmint_reconcile_audit_prints_the_books_and_exits_1_when_they_differ(
    whop, seller, live_server
):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock)
    start, end = (m.isoformat() for m in today())
    differs = await asyncio.to_thread(linkmint, live_server, "reconcile", "--audit", start, end)
    assert differs.returncode == 1, differs.stderr
    assert "seller" in differs.stdout and "DIFFERS" in differs.stdout
    assert f"{payment_id} (unlock {unlock['id']})" in differs.stdout
    await reconcile(whop, NOW)
    agrees = await asyncio.to_thread(linkmint, live_server, "reconcile", "--audit", start, end)
    assert agrees.returncode == 0, agrees.stdout + agrees.stderr
    assert "Every payment matches." in agrees.stdout
    assert await MoneyAudit.count() == 2  # both stored


async def test_linkmint_reconcile_audit_refuses_a_period_that_makes_no_sense(live_server):
    backwards = await asyncio.to_thread(
        linkmint, live_server, "reconcile", "--audit", "2026-12-02", "2026-12-01"
    )
    assert backwards.returncode == 2 and "FROM must be before TO" in backwards.stderr
    garbled = await asyncio.to_thread(
        linkmint, live_server, "reconcile", "--audit", "yesterday", "2026-12-01"
    )
    assert garbled.returncode == 2 and "'yesterday' is not a date" in garbled.stderr


async def test_the_latest_audit_and_the_sweeps_lag_are_on_metrics(whop, seller, live_server):
    unlock = await open_unlock(whop, seller)
    await buy(whop, unlock)
    await store(await audit(whop, *today()))
    async with httpx.AsyncClient(base_url=live_server) as scraper:
        found = samples((await scraper.get("/metrics")).text)
    usd = (("currency", "usd"), ("side", "ours")), (("currency", "usd"), ("side", "whop"))
    assert found[("linkmint_audit_paid_minor_units", usd[0])] == 0
    assert found[("linkmint_audit_paid_minor_units", usd[1])] == 500
    assert found[("linkmint_audit_differing_payments", ())] == 1
    assert found[("linkmint_audit_differing_creators", ())] == 1
    assert found[("linkmint_audit_last_run_timestamp_seconds", ())] > 0
    assert found[("linkmint_sweep_lag_seconds", ())] >= 0  # never swept: since its checkout

    await reconcile(whop, NOW)
    await store(await audit(whop, *today()))
    async with httpx.AsyncClient(base_url=live_server) as scraper:
        found = samples((await scraper.get("/metrics")).text)
    assert found[("linkmint_audit_paid_minor_units", usd[0])] == 500
    assert found[("linkmint_audit_differing_payments", ())] == 0
    assert found[("linkmint_sweep_lag_seconds", ())] < 60


async def test_the_daily_audit_runs_once_a_day_after_the_day_has_settled(whop, seller):
    await a_day_of_sales(whop, seller)
    await Unlock.raw("UPDATE unlock SET created_at = created_at - interval '1 day'")
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert await audit_yesterday_if_due(whop, now=midnight + timedelta(minutes=30)) is None
    report = await audit_yesterday_if_due(whop, now=midnight + timedelta(hours=2))
    assert report is not None and report.start == midnight - timedelta(days=1)
    assert await audit_yesterday_if_due(whop, now=midnight + timedelta(hours=3)) is None
    [row] = await MoneyAudit.select()
    assert row["scheduled"] and row["period_to"] == midnight
