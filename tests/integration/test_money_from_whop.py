"""Money that only Whop's records tell of: what happens when a buyer's return AND Whop's
webhooks are both lost, against a running `linkmint serve` whose own background pass does
the work, and the race that only the database can settle."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from piccolo.engine import engine_finder

from app.db.tables import Unlock
from app.emulator import faults
from app.payments import convergence
from app.payments.audit import audit
from app.payments.convergence import apply_payment
from tests.support.convergence_support import (  # noqa: F401 (fixtures)
    buy,
    open_unlock,
    seller,
    status_of,
)
from tests.support.servers import linkmint_serve
from tests.support.unlock_support import HX, add_premium, pay, press_unlock
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    eventually,
    live_settings,
    sleeps,
    whop,
)

SECRET = "https://secret.example/from-whop"


# --- against a running server, its own reconciler doing the work ---------------------------


@pytest.fixture
def reconciling_server() -> Iterator[str]:
    """`linkmint serve` running its background pass every second, reading every selling
    company's payments at Whop each time."""
    env = {"MAINTENANCE_SECONDS": "1", "RECONCILE_SWEEP_SECONDS": "1"}
    with linkmint_serve("reconciling", env=env) as server:
        yield server.url


@pytest.fixture
async def lost_in_transit(emulator_control) -> None:
    """Every webhook is lost for good, and so is every buyer's return from checkout."""
    await faults.add_fault("drop", attempts=4, times=10_000)
    await faults.add_fault("drop_redirect", times=10_000)


@pytest.fixture
async def shop(whop, make_creator) -> dict:
    company = await whop.create_connected_company(title="Lost", email="lost@example.com")
    creator = await make_creator(handle="lost", whop_company_id=company.id, payout_enabled=True)
    return await add_premium(creator, url=SECRET, price_cents=700)


@pytest.fixture
async def buyer(reconciling_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=reconciling_server, timeout=15) as http:
        yield http


async def sees_the_link(http: httpx.AsyncClient, link_id: int) -> bool:
    return SECRET in (await http.get(f"/u/{link_id}", headers=HX)).text


async def becomes(unlock_id: str, status: str) -> dict:
    async def check():
        row = await status_of(unlock_id)
        return row if row["status"] == status else None

    return await eventually(check, within=20, every=0.2)


async def payments_of(whop, unlock_id: str) -> list:
    [row] = await Unlock.raw(
        "SELECT u.checkout_id, c.whop_company_id FROM unlock u JOIN creator c "
        "ON c.id = u.creator WHERE u.id = {}",
        unlock_id,
    )
    return [
        p
        async for p in whop.list_payments(
            row["whop_company_id"], checkout_configuration_ids=[row["checkout_id"]]
        )
    ]


@pytest.mark.usefixtures("lost_in_transit")
async def test_with_every_return_and_webhook_lost_whops_records_settle_each_case(
    whop, shop, buyer, reconciling_server
):
    started = datetime.now(UTC)
    unlock_id, purchase_url = await press_unlock(buyer, shop["id"])
    paid = await pay(buyer, purchase_url)
    assert paid.status_code == 200 and "Payment complete" in paid.text  # no way back
    row = await becomes(unlock_id, "COMPLETED")
    assert row["completed_via"] == "reconcile"
    assert await sees_the_link(buyer, shop["id"])

    # 1. A second tab, paid after the first: a second charge nobody reported.
    await pay(buyer, purchase_url)
    [second] = [p for p in await payments_of(whop, unlock_id) if p.id != row["provider_payment_id"]]

    async def second_refunded():
        payment = await whop.retrieve_payment(second.id)
        dups = await Unlock.raw(
            "SELECT refunded_at FROM duplicate_payment WHERE payment_id = {}", second.id
        )
        return payment.substatus == "refunded" and dups and dups[0]["refunded_at"]

    await eventually(second_refunded, within=20, every=0.2)
    assert (await status_of(unlock_id))["provider_payment_id"] == row["provider_payment_id"]

    # 2. The creator refunds the sale in Whop's dashboard; the refund's webhooks are lost.
    await whop.refund_payment(row["provider_payment_id"])
    await becomes(unlock_id, "REFUNDED")
    assert not await sees_the_link(buyer, shop["id"])

    # 3. Another buyer pays an old checkout of an unlock that expired days ago.
    async with httpx.AsyncClient(base_url=reconciling_server, timeout=15) as late:
        late_id, late_url = await press_unlock(late, shop["id"])
        await Unlock.raw(
            "UPDATE unlock SET status = 'EXPIRED', created_at = now() - interval '3 days' "
            "WHERE id = {}",
            late_id,
        )
        await pay(late, late_url)
        assert (await becomes(late_id, "COMPLETED"))["completed_via"] == "reconcile"
        assert await sees_the_link(late, shop["id"])

    # Whop's books and ours agree on every payment of the period.
    report = await audit(whop, started - timedelta(minutes=1), datetime.now(UTC))
    assert report.clean, "\n".join(report.lines())
    [books] = report.books.values()
    assert (books.paid, books.refunded) == (3 * 700, 2 * 700)


# --- the race only the database can settle ---------------------------------------------------


def _numbered(sql: str) -> str:
    """Piccolo's `{}` placeholders as asyncpg's `$1, $2, …`."""
    count = iter(range(1, 100))
    return re.sub(r"\{\}", lambda _: f"${next(count)}", sql)


async def two_unlocks_of_one_buyer(whop, seller) -> tuple[dict, dict]:
    """A PENDING unlock and an EXPIRED one of the same buyer and link, each with its own
    checkout at Whop (a checkout opened, left, and a new one opened later)."""
    token_hash = secrets.token_hex(32)
    older = await open_unlock(whop, seller, token_hash=token_hash)
    await Unlock.raw("UPDATE unlock SET status = 'EXPIRED' WHERE id = {}", older["id"])
    newer = await open_unlock(whop, seller, token_hash=token_hash)
    return older, newer


async def test_two_database_sessions_cannot_both_complete_one_buyers_link(
    whop, seller, emulator_control
):
    older, newer = await two_unlocks_of_one_buyer(whop, seller)
    dsn = engine_finder().config["dsn"]
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    complete = _numbered(convergence._COMPLETE_SQL)
    try:
        await first.execute("BEGIN")
        await second.execute("BEGIN")
        won = await first.fetch(complete, "pay_first", "webhook", 0, None, None, older["id"])
        assert won  # not committed yet: the second session cannot see it
        racing = asyncio.ensure_future(
            second.fetch(complete, "pay_second", "redirect", 0, None, None, newer["id"])
        )
        await asyncio.sleep(0.3)
        assert not racing.done()  # the unique index makes it wait for the first
        await first.execute("COMMIT")
        with pytest.raises(asyncpg.UniqueViolationError) as refused:
            await racing
        assert refused.value.constraint_name == "unlock_one_completed_per_buyer"
        await second.execute("ROLLBACK")
    finally:
        await first.close()
        await second.close()
    rows = await Unlock.raw(
        "SELECT id FROM unlock WHERE buyer_token_hash = (SELECT buyer_token_hash FROM unlock "
        "WHERE id = {}) AND status = 'COMPLETED'",
        older["id"],
    )
    assert [r["id"] for r in rows] == [older["id"]]


async def test_the_payment_that_loses_the_race_is_refunded_as_a_duplicate(
    whop, seller, emulator_control
):
    await faults.add_fault("drop", attempts=4, times=10_000)
    older, newer = await two_unlocks_of_one_buyer(whop, seller)
    first = await whop.retrieve_payment(await buy(whop, older))
    second = await whop.retrieve_payment(await buy(whop, newer))
    holding = asyncio.Event()

    async def first_in_a_transaction_held_open():
        async with Unlock._meta.db.transaction():
            outcome = await apply_payment(whop, first, "webhook", refund_now=False)
            holding.set()
            await asyncio.sleep(0.5)  # the second converges meanwhile, and waits
            return outcome

    async def second_meanwhile():
        await holding.wait()
        return await apply_payment(whop, second, "redirect")

    won, lost = await asyncio.gather(first_in_a_transaction_held_open(), second_meanwhile())
    assert won.result == "completed"
    assert lost.result == "duplicate_refunded"
    assert (await status_of(older["id"]))["status"] == "COMPLETED"
    assert (await status_of(newer["id"]))["status"] == "PENDING"
    assert (await whop.retrieve_payment(second.id)).substatus == "refunded"
    [dup] = await Unlock.raw("SELECT * FROM duplicate_payment")
    assert dup["payment_id"] == second.id and dup["refunded_at"] is not None
