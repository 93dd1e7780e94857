"""What a Whop payment means for an unlock, and what a buyer is shown for each state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.payments.convergence import UnlockTerms, mismatch, provider_state
from app.payments.unlocks import POLL_WINDOW, BuyerUnlock, PremiumLink, panel_from
from app.whop import Payment


def payment(**changes) -> Payment:
    data = {
        "id": "pay_Abc0000000001",
        "status": "paid",
        "substatus": "succeeded",
        "company": {"id": "biz_Seller0000001"},
        "currency": "usd",
        "total": 5.0,
        "refunded_amount": 0,
        "metadata": {"unlock_id": "u" * 24},
        "checkout_configuration_id": "ch_Ours00000000001",
        "plan": {"id": "plan_Ours000000001"},
        "application_fee": {"id": "apfee_1", "amount": 0.5, "currency": "usd"},
        "created_at": "2026-11-26T12:00:00Z",
        **changes,
    }
    return Payment.from_json(data)


@pytest.mark.parametrize(
    "changes,state",
    [
        ({}, "paid"),
        ({"refunded_amount": 1.0, "substatus": "partially_refunded"}, "paid"),
        ({"refunded_amount": 5.0, "substatus": "refunded"}, "refunded"),
        ({"refunded_amount": 5.0}, "refunded"),
        ({"status": "open", "substatus": "failed"}, "failed"),
        ({"status": "void", "substatus": None}, "failed"),
        ({"status": "uncollectible", "substatus": None}, "failed"),
        ({"status": "pending", "substatus": "pending"}, "open"),
        ({"status": "draft", "substatus": "drafted"}, "open"),
    ],
)
def test_the_provider_state_of_a_payment(changes, state):
    assert provider_state(payment(**changes)) == state


UNLOCK = UnlockTerms(
    id="u" * 24,
    status="PENDING",
    price_cents=500,
    fee_cents=50,
    currency="usd",
    provider_payment_id=None,
    checkout_id="ch_Ours00000000001",
    plan_id="plan_Ours000000001",
    refunded_cents=0,
    company_id="biz_Seller0000001",
)


def test_a_matching_payment_has_no_mismatch():
    assert mismatch(payment(), UNLOCK) is None


@pytest.mark.parametrize(
    "changes,unlock,reason",
    [
        ({"company": {"id": "biz_Other00000001"}}, UNLOCK, "another company"),
        ({"company": None}, UNLOCK, "another company"),
        ({}, replace(UNLOCK, company_id=None), "another company"),
        ({"currency": "eur"}, UNLOCK, "in eur"),
        ({"total": 4.99}, UNLOCK, "for 499"),
        ({"total": 50.0}, UNLOCK, "for 5000"),
    ],
)
def test_a_payment_for_the_wrong_company_amount_or_currency_is_refused(changes, unlock, reason):
    assert reason in str(mismatch(payment(**changes), unlock))


@pytest.mark.parametrize(
    "changes,unlock,reason,detail",
    [
        ({"checkout_configuration_id": "ch_Theirs000000001"}, UNLOCK, "checkout", "ch_Theirs"),
        ({"checkout_configuration_id": None}, UNLOCK, "checkout", "no checkout"),
        ({}, replace(UNLOCK, checkout_id=None, plan_id=None), "checkout", "None"),
        ({"plan": {"id": "plan_Other00000001"}}, UNLOCK, "plan", "plan_Other"),
        ({"plan": None}, UNLOCK, "plan", "plan None"),
        ({}, replace(UNLOCK, plan_id=None), "plan", "is not known"),
        ({"application_fee": None}, UNLOCK, "fee", "no platform fee"),
        ({"application_fee": {"id": "apfee_1", "amount": None}}, UNLOCK, "fee", "no platform fee"),
        ({"application_fee": {"id": "apfee_1", "amount": 0.49}}, UNLOCK, "fee", "49 platform"),
        ({"currency": "whop_usd"}, UNLOCK, "currency", "in whop_usd"),
        ({"currency": "usdt"}, UNLOCK, "currency", "in usdt"),
    ],
)
def test_only_our_checkout_plan_and_fee_bind_a_payment_to_its_unlock(
    changes, unlock, reason, detail
):
    problem = mismatch(payment(**changes), unlock)
    assert problem is not None and problem.reason == reason
    assert detail in problem.detail


def test_a_free_checkout_sends_no_fee_and_expects_none():
    assert mismatch(payment(application_fee=None), replace(UNLOCK, fee_cents=0)) is None


def test_the_price_is_compared_before_tax():
    taxed = payment(total=5.95, subtotal=5.0, tax_amount=0.95)
    assert taxed.price_paid == 500 and mismatch(taxed, UNLOCK) is None
    # Without a subtotal, the price is the total less its tax.
    assert mismatch(payment(total=5.95, tax_amount=0.95), UNLOCK) is None
    assert mismatch(payment(total=5.95, subtotal=5.95), UNLOCK).reason == "amount"
    assert mismatch(payment(total=5.95), UNLOCK).reason == "amount"


def test_a_refund_gives_back_the_price_and_its_tax_in_proportion():
    half = payment(
        total=5.95,
        subtotal=5.0,
        tax_amount=0.95,
        refunded_amount=2.98,
        tax_refunded_amount=0.48,
        substatus="partially_refunded",
    )
    assert provider_state(half) == "paid" and half.price_refunded == 250
    full = payment(
        total=5.95,
        subtotal=5.0,
        tax_amount=0.95,
        refunded_amount=5.95,
        tax_refunded_amount=0.95,
        substatus="refunded",
    )
    assert provider_state(full) == "refunded" and full.price_refunded == 500


LINK = PremiumLink(
    id=7,
    title="Recipe",
    handle="alice",
    price_cents=500,
    currency="usd",
    creator_id=1,
    company_id="biz_Seller0000001",
    payout_enabled=True,
)
NOT_FOR_SALE = PremiumLink(
    id=7,
    title="Recipe",
    handle="alice",
    price_cents=500,
    currency="usd",
    creator_id=1,
    company_id=None,
    payout_enabled=False,
)


def row(status: str, **fields) -> BuyerUnlock:
    return BuyerUnlock(
        **{
            "id": "u" * 24,
            "status": status,
            "checkout_id": "ch_1",
            "purchase_url": "https://whop.example/checkout",
            "created_at": datetime.now(UTC),
            "url": None,
            **fields,
        }
    )


@pytest.mark.parametrize(
    "link,unlock,state",
    [
        (LINK, None, "offer"),
        (NOT_FOR_SALE, None, "unavailable"),
        (LINK, row("PENDING"), "pending"),
        (LINK, row("PENDING", purchase_url=None, checkout_id=None), "offer"),
        (LINK, row("FAILED"), "failed"),
        (LINK, row("FAILED", checkout_id=None), "offer"),
        (LINK, row("REFUNDED"), "refunded"),
        (LINK, row("EXPIRED"), "expired"),
        (NOT_FOR_SALE, row("COMPLETED", url="https://secret.example"), "completed"),
    ],
)
def test_each_unlock_state_has_its_panel(link, unlock, state):
    assert panel_from(link, unlock).state == state


def test_only_a_completed_unlock_carries_the_url_and_only_a_safe_one():
    assert (
        panel_from(LINK, row("COMPLETED", url="https://s.example/x")).url == "https://s.example/x"
    )
    assert panel_from(LINK, row("COMPLETED", url="javascript:alert(1)")).url is None
    for status in ("PENDING", "FAILED", "REFUNDED", "EXPIRED"):
        assert panel_from(LINK, row(status, url="https://s.example/x")).url is None


def test_a_pending_checkout_is_polled_only_while_it_is_fresh():
    fresh = panel_from(LINK, row("PENDING"))
    assert fresh.polling and not fresh.settled
    old = row("PENDING", created_at=datetime.now(UTC) - POLL_WINDOW - timedelta(seconds=1))
    assert panel_from(LINK, old).settled
    assert panel_from(LINK, row("COMPLETED", url="https://s.example")).settled
