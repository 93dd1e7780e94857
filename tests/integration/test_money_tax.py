"""Tax: Whop, the merchant of record, adds it on top of the price for buyers from taxed
countries. The emulator charges it (the control setting `tax_rates`), so the rule is tested
rather than assumed: an unlock is paid by its price before tax, the creator earns the price,
the audit agrees with Whop, and a refund — tax and all — takes the link back."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.emulator import faults
from app.payments.audit import audit
from app.payments.convergence import converge_payment
from app.payments.reconcile import SweepOptions, reconcile
from tests.support.convergence_support import (  # noqa: F401 (fixtures)
    buy,
    open_unlock,
    quiet_whop,
    seller,
    status_of,
)
from tests.support.pages import sale_rows
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    live_settings,
    sleeps,
    whop,
)

pytestmark = pytest.mark.usefixtures("quiet_whop")


@pytest.fixture
async def vat(emulator_control):
    await faults.set_control_settings(tax_rates={"DE": 19, "GB": 20})


def today() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=1)


async def test_a_german_buyer_pays_tax_on_top_and_the_creator_earns_the_price(
    whop, seller, vat, client, sign_in
):
    unlock = await open_unlock(whop, seller)  # 5.00, of which 0.50 is the platform's fee
    payment_id = await buy(whop, unlock, country="DE")
    payment = await whop.retrieve_payment(payment_id)
    assert (payment.total, payment.subtotal, payment.tax_amount) == (595, 500, 95)

    assert (await converge_payment(whop, payment_id, "redirect")).result == "completed"
    assert (await status_of(unlock["id"]))["status"] == "COMPLETED"

    await sign_in(client, seller)
    page = (await client.get("/dashboard")).text
    [sale] = sale_rows(page)
    assert sale[1:] == ["Secret recipe", "Paid", "$5.00", "$0.50", "$4.50"]
    assert "$5.95" not in page and "$0.95" not in page

    report = await audit(whop, *today())
    assert report.clean, "\n".join(report.lines())
    [books] = report.books.values()
    assert (books.paid, books.whop_paid, books.refunded, books.whop_refunded) == (500, 500, 0, 0)

    refunded = await whop.refund_payment(payment_id)
    assert (refunded.refunded_amount, refunded.tax_refunded_amount) == (595, 95)
    assert (await converge_payment(whop, payment_id, "webhook")).result == "refunded"
    row = await status_of(unlock["id"])
    assert row["status"] == "REFUNDED" and row["refunded_cents"] == 500
    report = await audit(whop, *today())
    assert report.clean, "\n".join(report.lines())
    [books] = report.books.values()
    assert (books.refunded, books.whop_refunded) == (500, 500)


async def test_a_partial_refund_of_a_taxed_payment_returns_its_share_of_the_tax(whop, seller, vat):
    unlock = await open_unlock(whop, seller)
    payment_id = await buy(whop, unlock, country="DE")
    await converge_payment(whop, payment_id, "redirect")
    # 2.38 back to the buyer: 2.00 of the price and 0.38 of the tax, in proportion.
    refunded = await whop.refund_payment(payment_id, amount=238, currency="usd")
    assert (refunded.refunded_amount, refunded.tax_refunded_amount) == (238, 38)
    assert refunded.price_refunded == 200
    assert (await reconcile(whop, SweepOptions(every=timedelta(0), calls=100))).results == {
        "partially_refunded": 1
    }
    row = await status_of(unlock["id"])
    assert row["status"] == "COMPLETED" and row["refunded_cents"] == 200  # keeps the link
    report = await audit(whop, *today())
    assert report.clean, "\n".join(report.lines())


async def test_a_buyer_from_an_untaxed_country_pays_the_price_alone(whop, seller, vat):
    unlock = await open_unlock(whop, seller)
    payment = await whop.retrieve_payment(await buy(whop, unlock, country="US"))
    assert (payment.total, payment.subtotal, payment.tax_amount) == (500, 500, 0)
    assert (await converge_payment(whop, payment.id, "redirect")).result == "completed"
