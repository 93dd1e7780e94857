"""The sweep benchmark's data set and its pure arithmetic (bench/sales.py, bench/sweep.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.emulator import shapes
from app.payments.reconcile import EXPIRE_AFTER
from app.payments.sweep import SweptUnlock, in_step
from app.whop import Payment
from bench.sales import Sale, build_sales, payment_row, trickle, unlock_row
from bench.sweep import coverage, operation, paced_seconds

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)
APP_URL = "http://127.0.0.1:8000"


def fee(price_cents: int) -> int:
    return max(50, price_cents // 10)


@pytest.fixture(scope="module")
def data():
    return build_sales(
        random.Random(3), creators=20, unlocks=3000, now=NOW, window=WINDOW, fee_for=fee
    )


@pytest.fixture(scope="module")
def changes(data):
    return trickle(
        random.Random(4),
        data,
        now=NOW,
        within=timedelta(minutes=5),
        paid=30,
        refunds=6,
        second_charges=3,
    )


def as_whop_lists_it(sale: Sale, payment) -> Payment:
    """The payment as the sweep reads it: the emulator's JSON, parsed by the app's client."""
    row = {**payment_row(sale, payment), "company_title": sale.seller.handle}
    return Payment.from_json(shapes.payment(row))


def test_every_unlock_ends_as_its_payment_at_whop_says(data):
    expected = {
        "COMPLETED": ("paid", "succeeded"),
        "REFUNDED": ("paid", "refunded"),
        "FAILED": ("open", "failed"),
    }
    assert {"COMPLETED", "REFUNDED", "FAILED", "EXPIRED"} <= set(data.counts())
    assert len({s.unlock_id for s in data.sales}) == len(data.sales)
    for sale in data.sales:
        assert NOW - WINDOW < sale.created_at <= NOW
        if sale.status in expected:
            assert (sale.payment.status, sale.payment.substatus) == expected[sale.status]
            assert sale.payment.updated_at <= NOW
        else:
            assert sale.payment is None
        if sale.status == "PENDING":
            assert NOW - sale.created_at < EXPIRE_AFTER
        if sale.status == "EXPIRED":
            assert NOW - sale.created_at >= EXPIRE_AFTER


def test_our_rows_keep_the_unlock_tables_rules(data):
    for sale in data.sales:
        row = unlock_row(sale, APP_URL)
        if row["status"] in ("COMPLETED", "REFUNDED"):
            assert row["provider_payment_id"] == sale.payment.id
            assert row["completed_via"] and row["completed_at"]
        else:
            assert row["provider_payment_id"] is None and row["refunded_cents"] == 0
        assert 0 < row["fee_cents"] < row["price_cents"]
        assert sale.checkout_id in row["purchase_url"]


def test_a_sweep_of_the_data_set_finds_everything_in_step(data):
    for sale in (s for s in data.sales if s.payment is not None):
        payment = as_whop_lists_it(sale, sale.payment)
        assert payment.metadata == {"unlock_id": sale.unlock_id}
        assert payment.checkout_configuration_id == sale.checkout_id
        assert payment.total == sale.seller.price_cents
        assert in_step(payment, SweptUnlock.from_row(unlock_row(sale, APP_URL)), None), sale.status


def test_every_change_of_the_trickle_is_one_the_sweep_must_converge(data, changes):
    assert changes.expected() == {"completed": 30, "refunded": 6, "duplicate_refunded": 3}
    originals = {s.unlock_id: s for s in data.sales}
    touched = [s.unlock_id for s in changes.refunded]
    touched += [s.unlock_id for s, _ in changes.second_charges]
    assert len(set(touched)) == len(touched)
    pairs = [(s, s.payment, s) for s in changes.paid]
    pairs += [(originals[s.unlock_id], s.payment, s) for s in changes.refunded]
    pairs += [(s, p, s) for s, p in changes.second_charges]
    for ours, payment, sale in pairs:
        assert NOW - timedelta(minutes=5) <= payment.updated_at <= NOW
        unlock = SweptUnlock.from_row(unlock_row(ours, APP_URL))
        assert not in_step(as_whop_lists_it(sale, payment), unlock, None)
    assert all(originals[s.unlock_id].status == "COMPLETED" for s in changes.refunded)


def test_requests_are_named_as_whop_meters_them():
    assert operation("GET", "/_whop/api/v1/payments") == "GET /payments"
    refund = operation("POST", "/_whop/api/v1/payments/pay_Ab3/refund")
    assert refund == "POST /payments/{id}/refund"
    assert operation("GET", "/_whop/api/v1/checkout_configurations/ch_X1") == (
        "GET /checkout_configurations/{id}"
    )


def test_coverage_counts_passes_until_everyone_is_read_and_the_time_between_reads():
    reads = {"biz_a": [0, 5], "biz_b": [1, 6, 12], "biz_c": [3]}
    assert coverage(reads, 3, 60) == {
        "passes_to_read_all": 4,
        "interval_min_s": 300,
        "interval_max_s": 360,
    }
    assert coverage(reads, 4, 60)["passes_to_read_all"] is None  # one was never read


def test_the_audit_pacer_spaces_its_calls_evenly():
    assert paced_seconds(151, 150, 4.0) == 60.0  # one call every 0.4 s
    assert paced_seconds(1001, 150, 10.0) == 400.0
    assert paced_seconds(10, 150, 30.0) == 30.0  # the calls themselves are the slower
    assert paced_seconds(0, 150, 0.0) == 0.0
