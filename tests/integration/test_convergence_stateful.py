"""T17: any interleaving, duplication or reordering of the buyer's return and Whop's events
keeps the invariants (Hypothesis, stateful).

Each example is one unlock whose checkout saw a declined card (payment Y) and then a good
one (payment X) at the emulator. The rules deliver, in any order and any number of times
(alone or several at once): the buyer's return for X, `payment.succeeded` for X,
`payment.failed` for Y, and — once Whop has refunded X — `refund.created` for X. Webhook ids
are drawn from a small pool per kind, so the same event arrives twice and one change
arrives under two event ids. After every step:

- at most one completion and at most one refund ever happened to the unlock;
- its state never moved backwards (PENDING < FAILED < COMPLETED < REFUNDED);
- a paid state always names X, and no payment was ever taken for a second charge.

At the end every event is delivered once more (as Whop's retries or the reconciler would),
and the unlock's state is the provider's last word: REFUNDED if X was refunded, else
COMPLETED.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from piccolo.engine import engine_finder

from app.config import Settings
from app.db.tables import DuplicatePayment, Unlock
from app.payments import metrics
from app.payments.convergence import converge_payment, converge_unlock
from app.payments.inbox import process_event, receive_webhook
from app.whop import RetryPolicy, WhopClient
from tests.support.convergence_support import buy, open_unlock, quiet_whop  # noqa: F401
from tests.support.unlock_support import DECLINES, add_premium, signed_event
from tests.support.whop_testkit import emulator_control, live_settings  # noqa: F401

RANK = {"PENDING": 0, "FAILED": 1, "EXPIRED": 1, "COMPLETED": 2, "REFUNDED": 3}
KINDS = ("redirect", "succeeded", "failed", "refund")


def count(result: str) -> float:
    return sum(
        metrics.REGISTRY.get_sample_value(
            "linkmint_convergence_outcomes_total", {"path": path, "result": result}
        )
        or 0.0
        for path in ("redirect", "webhook", "reconcile")
    )


def machine_for(app_settings: Settings, seller: dict) -> type[RuleBasedStateMachine]:
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete

    class PaymentOrders(RuleBasedStateMachine):
        @initialize()
        def a_buyer_declined_then_paid(self) -> None:
            self.whop = WhopClient.connect(
                app_settings, retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)
            )
            self.unlock = run(open_unlock(self.whop, seller))
            self.declined = run(buy(self.whop, self.unlock, card=DECLINES))
            self.paid = run(buy(self.whop, self.unlock))
            self.refunded_at_whop = False
            self.rank = 0
            self.completed_before = count("completed")
            self.refunded_before = count("refunded")

        def teardown(self) -> None:
            if hasattr(self, "whop"):
                run(self.whop.aclose())

        async def _deliver(self, kind: str, copy: int) -> None:
            if kind == "redirect":
                await converge_payment(self.whop, self.paid, "redirect")
                return
            event_type, data = {
                "succeeded": ("payment.succeeded", {"id": self.paid}),
                "failed": ("payment.failed", {"id": self.declined}),
                "refund": ("refund.created", {"id": "rf_1", "payment": {"id": self.paid}}),
            }[kind]
            webhook_id = f"msg_{self.unlock['id']}_{kind}_{copy}"
            body, headers = signed_event(app_settings, event_type, data, webhook_id=webhook_id)
            receipt = await receive_webhook(app_settings.whop_webhook_secret, headers, body)
            assert receipt.status == 200 and receipt.event_id == webhook_id, receipt
            # What the app's inbox worker does next (here in the same task, so the
            # invariants see its effect).
            await process_event(self.whop, webhook_id)

        @rule(kind=st.sampled_from(KINDS), copy=st.integers(0, 1))
        def deliver(self, kind: str, copy: int) -> None:
            if kind == "refund" and not self.refunded_at_whop:
                kind = "succeeded"  # Whop sends no refund event before it refunds
            run(self._deliver(kind, copy))

        @rule(
            batch=st.lists(
                st.tuples(st.sampled_from(KINDS[:3]), st.integers(0, 1)), min_size=2, max_size=4
            )
        )
        def deliver_at_once(self, batch: list[tuple[str, int]]) -> None:
            async def all_of_them() -> None:
                await asyncio.gather(*(self._deliver(kind, copy) for kind, copy in batch))

            run(all_of_them())

        @precondition(lambda self: not self.refunded_at_whop)
        @rule()
        def whop_refunds_the_payment(self) -> None:
            run(self.whop.refund_payment(self.paid))
            self.refunded_at_whop = True

        @invariant()
        def only_forward_and_at_most_once(self) -> None:
            if not hasattr(self, "unlock"):
                return
            [row] = run(Unlock.select().where(Unlock.id == self.unlock["id"]))
            rank = RANK[row["status"]]
            assert rank >= self.rank, f"moved back to {row['status']}"
            self.rank = rank
            if row["status"] in ("COMPLETED", "REFUNDED"):
                assert row["provider_payment_id"] == self.paid
            assert count("completed") - self.completed_before <= 1
            assert count("refunded") - self.refunded_before <= 1
            assert run(DuplicatePayment.count()) == 0

        def check_the_end(self) -> None:
            for kind in KINDS:
                if kind != "refund" or self.refunded_at_whop:
                    run(self._deliver(kind, 0))
            run(converge_unlock(self.whop, self.unlock["id"], "reconcile"))
            self.only_forward_and_at_most_once()
            [row] = run(Unlock.select().where(Unlock.id == self.unlock["id"]))
            assert row["status"] == ("REFUNDED" if self.refunded_at_whop else "COMPLETED")

    class WithFinalCheck(PaymentOrders):
        def teardown(self) -> None:
            try:
                if hasattr(self, "unlock"):
                    self.check_the_end()
            finally:
                super().teardown()

    WithFinalCheck.loop = loop
    return WithFinalCheck


@pytest.fixture
def seller_for_machine(live_settings, make_creator):  # noqa: F811
    """A creator with a company at the live emulator (made on a loop of its own)."""

    async def make() -> dict:
        async with WhopClient.connect(live_settings) as whop:
            company = await whop.create_connected_company(title="T17", email="t17@example.com")
        creator = await make_creator(handle="t17", whop_company_id=company.id, payout_enabled=True)
        creator["link"] = await add_premium(creator)
        return creator

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(make())
    finally:
        loop.close()


@pytest.mark.usefixtures("quiet_whop")
def test_any_order_of_redirects_and_events_keeps_the_invariants(
    live_settings,  # noqa: F811
    seller_for_machine,  # noqa: F811
):
    machine = machine_for(dataclasses.replace(live_settings), seller_for_machine)
    engine = engine_finder()
    # Pooled connections on the machine's own loop (the suite otherwise opens one per query).
    machine.loop.run_until_complete(engine.start_connection_pool(min_size=2, max_size=8))
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=20,
                stateful_step_count=8,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        machine.loop.run_until_complete(engine.close_connection_pool())
        machine.loop.close()
