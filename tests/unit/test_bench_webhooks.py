"""The benchmark's signed webhook pool and its exactly-once check (bench/webhooks.py)."""

from __future__ import annotations

import json
import random

import pytest

from app.whop.webhooks import verify_webhook
from bench.dataset import build_dataset
from bench.webhooks import Delivery, build_pool, judge, sent_deliveries

SECRET = "ws_bench_unit_secret"
NOW = 1_790_000_000


def fee(price_cents: int) -> int:
    return max(50, price_cents // 10)


@pytest.fixture(scope="module")
def data():
    return build_dataset(
        random.Random(1),
        creators=30,
        links_per_creator=12,
        completed_unlocks=20,
        pending_unlocks=10,
        fee_for=fee,
    )


@pytest.fixture(scope="module")
def pool(data):
    return build_pool(
        random.Random(2),
        data,
        events=900,
        duplicate_share=0.1,
        secret=SECRET,
        now=NOW,
        fee_for=fee,
    )


def test_every_delivery_verifies_as_whop_signed_it(pool):
    for delivery in pool.deliveries:
        for skew in (-250, 0, 250):  # anywhere in the run, inside Whop's ±300 s
            event = verify_webhook(
                SECRET, delivery.headers(), delivery.body.encode(), now=NOW + skew
            )
            assert event.webhook_id == delivery.webhook_id
            assert event.type == "payment.succeeded"
            assert event.data["id"] == delivery.payment_id
            assert event.data["metadata"] == {"unlock_id": delivery.unlock_id}


def test_a_tenth_of_the_deliveries_are_redeliveries_after_their_original(pool):
    redeliveries = [d for d in pool.deliveries if d.redelivery]
    assert len(pool.deliveries) == 1000 and len(redeliveries) == 100
    first_seen: dict[str, int] = {}
    for position, d in enumerate(pool.deliveries):
        if d.redelivery:
            original = pool.deliveries[first_seen[d.webhook_id]]
            assert not original.redelivery and original.body == d.body
            assert d.timestamp > original.timestamp and d.signature != original.signature
        else:
            first_seen[d.webhook_id] = position
    assert len(first_seen) == pool.events == 900


def test_each_event_pays_a_pending_unlock_with_its_exact_amount(pool, data):
    unlocks = {u.id: u for u in pool.unlocks}
    for d in pool.deliveries[:50]:
        payment = json.loads(d.body)["data"]
        unlock = unlocks[d.unlock_id]
        assert unlock.status == "PENDING"
        assert round(payment["total"] * 100) == unlock.price_cents
        assert payment["company"]["id"] == data.creator(unlock.creator_id).whop_company_id
        assert payment["status"] == "paid"


def _delivery(n: int, unlock: str | None = None) -> Delivery:
    return Delivery(f"evt_{n}", NOW, "{}", "v1,x", unlock or f"u{n}", f"pay_{n}", False)


def test_what_wrk_sent_is_each_threads_share_in_order():
    deliveries = [_delivery(n) for n in range(10)]  # thread 0: 0,2,4,6,8; thread 1: 1,3,5,7,9
    sent = sent_deliveries(deliveries, [2, 7])  # thread 1 ran out and wrapped
    assert [d.webhook_id for d in sent] == [
        "evt_0",
        "evt_2",
        "evt_1",
        "evt_3",
        "evt_5",
        "evt_7",
        "evt_9",
    ]


class _Unlock:
    def __init__(self, id: str) -> None:
        self.id = id


def test_judge_passes_when_every_sent_event_had_its_effect_once():
    sent = [_delivery(1), _delivery(2), _delivery(1)]
    verdict = judge(
        [_Unlock("u1"), _Unlock("u2"), _Unlock("u3")],
        sent,
        inbox={"evt_1": True, "evt_2": True},
        unlocks={
            "u1": ("COMPLETED", "pay_1"),
            "u2": ("COMPLETED", "pay_2"),
            "u3": ("PENDING", None),
        },
        refunds=0,
    )
    assert verdict.exactly_once and verdict.problems == ()
    assert (verdict.sent, verdict.events, verdict.redeliveries) == (3, 2, 1)


def test_judge_names_every_kind_of_failure():
    verdict = judge(
        [_Unlock("u1"), _Unlock("u2"), _Unlock("u3"), _Unlock("u4")],
        [_delivery(1), _delivery(2), _delivery(3)],
        inbox={"evt_1": False, "evt_2": True, "evt_9": True},
        unlocks={
            "u1": ("PENDING", None),
            "u2": ("COMPLETED", "pay_other"),
            "u3": ("PENDING", None),
            "u4": ("COMPLETED", "pay_4"),
        },
        refunds=2,
    )
    assert not verdict.exactly_once
    text = "\n".join(verdict.problems)
    assert "1 sent events missing from the inbox (e.g. evt_3)" in text
    assert "1 inbox rows for events never sent (e.g. evt_9)" in text
    assert "1 events stored but not processed (e.g. evt_1)" in text
    assert "3 unlocks not COMPLETED by their payment (e.g. u1, u2, u3)" in text
    assert "1 unlocks changed although their event was never sent (e.g. u4)" in text
    assert "2 refunds issued at Whop" in text
