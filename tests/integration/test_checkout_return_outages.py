"""The buyer's return from Whop's checkout while Whop or our database is in trouble: it
answers within a few seconds — the creator's page, or a "Confirming your payment…" page
that tries again by itself — never a 500, and the same return finishes the job later."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from app.emulator import faults
from app.payments.unlocks import RETURN_WAIT
from tests.support.database_switch import (  # noqa: F401 (fixtures)
    database,
    db_switch,
    switched_server,
)
from tests.support.servers import Server
from tests.support.unlock_support import (
    add_premium,
    connected_company,
    make_seller,
    pay,
    press_unlock,
    query_of,
    start_checkout,
    unlock_row,
)
from tests.support.whop_testkit import emulator_control, eventually, wait_out_whop  # noqa: F401

pytestmark = pytest.mark.usefixtures("quiet_whop")
SLACK = 1.0  # seconds on top of RETURN_WAIT for everything else a return does


@pytest.fixture
async def quiet_whop(emulator_control):
    """The emulator's own webhooks to the app are lost: only the return can converge."""
    await faults.add_fault("drop", attempts=4, times=1000)


async def timed_get(http: httpx.AsyncClient, url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await http.get(url, follow_redirects=False)
    return response, time.monotonic() - started


# --- Whop slow or failing: the buyer goes on to the page after RETURN_WAIT at most ---------


@pytest.fixture
async def recipe(client, settings, make_creator):
    alice = await make_seller(client, settings, make_creator, "alice")
    return await add_premium(alice)


@pytest.mark.parametrize(
    "trouble",
    [
        pytest.param({"hang": 30}, id="hanging"),
        pytest.param({"status": 429, "retry_after": 20, "retry_after_header": True}, id="busy"),
        pytest.param({"status": 502}, id="failing"),
    ],
)
async def test_whop_in_trouble_holds_the_return_a_few_seconds_then_the_page_takes_over(
    client, recipe, trouble
):
    unlock_id, purchase_url = await start_checkout(client, recipe["id"])
    confirm = (await pay(client, purchase_url)).headers["location"]
    payment_id = query_of(confirm)["payment_id"]
    await faults.add_fault("api", method="GET", path="/payments*", times=10, **trouble)

    back, waited = await timed_get(
        client, f"/checkout/confirm?unlock={unlock_id}&payment_id={payment_id}"
    )
    assert back.status_code == 303, back.text
    assert back.headers["location"] == f"/alice#premium-{recipe['id']}"
    assert waited < RETURN_WAIT + SLACK
    assert (await unlock_row(unlock_id))["status"] == "PENDING"  # the page polls meanwhile

    await faults.clear_faults()
    wait_out_whop(client.app)  # (the busy Whop's 20 seconds)
    again, _ = await timed_get(
        client, f"/checkout/confirm?unlock={unlock_id}&payment_id={payment_id}"
    )
    assert again.status_code == 303
    assert (await unlock_row(unlock_id))["completed_via"] == "redirect"


# --- our database unreachable: a real server whose PostgreSQL a switch cuts -------------------


@pytest.fixture
async def buyer(switched_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=switched_server.url, timeout=15) as http:
        yield http


@pytest.fixture
async def link(buyer, settings, make_creator) -> dict:
    company = await connected_company(buyer, settings, "cook")
    cook = await make_creator(handle="cook", whop_company_id=company, payout_enabled=True)
    return await add_premium(cook)


async def paid_return(http: httpx.AsyncClient, link_id: int) -> tuple[str, str]:
    """Press Unlock and pay; the unlock's id and the address Whop sends the buyer back to."""
    unlock_id, purchase_url = await press_unlock(http, link_id)
    paid = await pay(http, purchase_url)
    return unlock_id, paid.headers["location"]


def assert_confirming_page(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "3"
    assert "no-store" in response.headers["cache-control"]
    assert "Confirming your payment…" in response.text
    assert '<meta http-equiv="refresh" content="3">' in response.text  # the same address


async def lands_on_the_page(http: httpx.AsyncClient, confirm: str) -> httpx.Response:
    """What the confirming page's refresh does: the same return again, until it redirects."""

    async def again():
        r = await http.get(confirm, follow_redirects=False)
        assert r.status_code in (303, 503), r.text
        return r if r.status_code == 303 else None

    return await eventually(again, within=15, every=0.5)


@pytest.mark.parametrize("outage", ["cut", "freeze"], ids=["stopped", "stalled"])
async def test_with_the_database_unreachable_the_return_confirms_once_it_answers(
    database, buyer, link, outage
):
    unlock_id, confirm = await paid_return(buyer, link["id"])
    getattr(database, outage)()

    first, waited = await timed_get(buyer, confirm)
    assert_confirming_page(first)
    assert waited < RETURN_WAIT + SLACK
    assert (await unlock_row(unlock_id))["status"] == "PENDING"

    database.restore()
    back = await lands_on_the_page(buyer, confirm)
    assert back.headers["location"] == f"/cook#premium-{link['id']}"
    assert (await unlock_row(unlock_id))["completed_via"] == "redirect"
