"""The status poll's memory of pending unlocks: 204 without a query while nothing changed,
the new panel as soon as anything that could change the buyer's answer is committed."""

# ruff: noqa: F811 (fixtures are imported, then named as test arguments)
from __future__ import annotations

import pytest

from app.db.tables import Link, Unlock
from app.main import create_app
from app.payments.buyer import Buyer
from app.payments.polls import PendingPolls
from tests.support.cache_support import (  # noqa: F401 (framework_calls: a fixture)
    FakeClock,
    framework_calls,
    notifications_landed,
    wait_until,
)
from tests.support.unlock_support import HX, add_premium, make_seller, start_checkout
from tests.support.whop_testkit import emulator_control  # noqa: F401 (fixture)

SECRET_URL = "https://secret.example/recipe?k=1"
ANNA = Buyer(token="a" * 43)
BORIS = Buyer(token="b" * 43)


def live_polls(**kwargs) -> tuple[PendingPolls, FakeClock]:
    clock = FakeClock(1_000_000.0)
    polls = PendingPolls(clock=clock, **kwargs)
    polls.set_live(True)
    return polls, clock


def remember(polls: PendingPolls, unlock_id: str, buyer: Buyer = ANNA, **fields) -> bool:
    values = {"link_id": 7, "creator_id": 3, "polls_until": polls._clock() + 900} | fields
    return polls.remember(unlock_id, buyer=buyer, generation=polls.generation, **values)


# --- the memory itself ----------------------------------------------------------------------


def test_only_the_buyer_who_polled_gets_the_remembered_answer():
    polls, _ = live_polls()
    assert remember(polls, "u1")
    assert polls.still_pending("u1", ANNA)
    assert not polls.still_pending("u1", BORIS)
    assert not polls.still_pending("u2", ANNA)
    # The same browser bound to a Whop account may own more: its answer is read afresh.
    assert not polls.still_pending("u1", ANNA.bound_to("user_Abc123"))


def test_a_change_to_the_link_or_its_creator_forgets_its_unlocks():
    polls, _ = live_polls()
    remember(polls, "u1", link_id=7, creator_id=3)
    remember(polls, "u2", link_id=8, creator_id=3)
    remember(polls, "u3", link_id=9, creator_id=4)
    polls.link_changed("7")
    assert not polls.still_pending("u1", ANNA) and polls.still_pending("u2", ANNA)
    polls.creator_changed("3")
    assert not polls.still_pending("u2", ANNA) and polls.still_pending("u3", ANNA)
    polls.link_changed("*")  # a TRUNCATE
    assert len(polls) == 0


def test_a_read_that_raced_with_a_notification_is_not_remembered():
    polls, _ = live_polls()
    generation = polls.generation
    polls.link_changed("12")  # committed while the poll was reading the unlock
    assert not polls.remember(
        "u1", link_id=7, creator_id=3, buyer=ANNA, polls_until=2e6, generation=generation
    )
    assert not polls.still_pending("u1", ANNA)


def test_entries_end_with_the_poll_window_or_the_ttl():
    polls, clock = live_polls(ttl=60)
    remember(polls, "short", polls_until=clock.now + 10)
    remember(polls, "long", polls_until=clock.now + 900)
    clock.now += 10
    assert not polls.still_pending("short", ANNA) and polls.still_pending("long", ANNA)
    clock.now += 50
    assert not polls.still_pending("long", ANNA)
    assert not remember(polls, "over", polls_until=clock.now)  # its window has closed


def test_nothing_is_remembered_or_answered_while_the_listener_is_down():
    polls, _ = live_polls(max_entries=2)
    remember(polls, "u1")
    polls.set_live(False)
    assert not polls.still_pending("u1", ANNA) and not remember(polls, "u1")
    polls.set_live(True)
    assert not polls.still_pending("u1", ANNA)  # notifications may have been missed
    for n in range(3):
        remember(polls, f"u{n}")
    assert len(polls) == 2 and not polls.still_pending("u0", ANNA)  # bounded, oldest first


# --- through the app, with the listener on --------------------------------------------------


@pytest.fixture
def app(settings):
    """The shared test app keeps its caches off; these tests need them on."""
    return create_app(settings, caches=True)


@pytest.fixture
async def polls(app, client) -> PendingPolls:
    memory: PendingPolls = app.state.pending_polls

    async def live() -> bool:
        return memory.live

    await wait_until(live)
    return memory


async def checkout(client, polls: PendingPolls, link_id: int) -> tuple[str, str]:
    """Press Unlock, then wait for the new unlock's own notification to land, so that it
    cannot drop what the test's first poll is about to remember."""
    started = await start_checkout(client, link_id)
    await notifications_landed(polls)
    return started


@pytest.fixture
async def recipe(client, settings, make_creator, emulator_control):
    alice = await make_seller(client, settings, make_creator, "alice")
    return await add_premium(alice, title="Secret recipe", url=SECRET_URL, price_cents=500)


async def test_a_second_poll_is_204_until_the_payment_lands(client, polls, recipe):
    unlock_id, _ = await checkout(client, polls, recipe["id"])
    status = f"/unlocks/{unlock_id}/status"
    first = await client.get(status, headers=HX)
    assert first.status_code == 200 and 'hx-trigger="every 1s"' in first.text
    assert len(polls) == 1

    again = await client.get(status, headers=HX)
    assert again.status_code == 204 and again.content == b""
    assert again.headers["cache-control"] == "private, no-store"

    await Unlock.update(
        {
            Unlock.status: "COMPLETED",
            Unlock.provider_payment_id: "pay_Test0000000001",
            Unlock.completed_via: "webhook",
            Unlock.completed_at: Unlock.created_at,
        }
    ).where(Unlock.id == unlock_id)

    async def revealed() -> bool:
        r = await client.get(status, headers=HX)
        return r.status_code == 286 and "unlock-revealed" in r.text

    assert await wait_until(revealed, within=1.0) < 1.0


async def test_another_browser_never_gets_the_remembered_answer(
    client, other_client, polls, recipe
):
    unlock_id, _ = await checkout(client, polls, recipe["id"])
    status = f"/unlocks/{unlock_id}/status"
    await client.get(status, headers=HX)
    assert (await client.get(status, headers=HX)).status_code == 204
    assert (await other_client.get(status, headers=HX)).status_code == 404
    other_client.cookies.set("lm_buyer", client.cookies["lm_buyer"] + "x")  # forged
    assert (await other_client.get(status, headers=HX)).status_code == 404


async def test_disabling_the_link_ends_the_remembered_answer(client, polls, recipe):
    unlock_id, _ = await checkout(client, polls, recipe["id"])
    status = f"/unlocks/{unlock_id}/status"
    await client.get(status, headers=HX)
    assert (await client.get(status, headers=HX)).status_code == 204
    await Link.update({Link.enabled: False}).where(Link.id == recipe["id"])

    async def gone() -> bool:
        return (await client.get(status, headers=HX)).status_code == 404

    await wait_until(gone, within=1.0)


async def test_without_htmx_or_while_the_listener_is_down_the_database_answers(
    client, polls, recipe
):
    unlock_id, _ = await checkout(client, polls, recipe["id"])
    status = f"/unlocks/{unlock_id}/status"
    await client.get(status, headers=HX)
    page = await client.get(status)  # no JavaScript: always the whole page
    assert page.status_code == 200 and "Waiting for your payment" in page.text

    polls.set_live(False)  # as when the listener's connection drops
    for _ in range(2):
        r = await client.get(status, headers=HX)
        assert r.status_code == 200 and 'hx-trigger="every 1s"' in r.text
    assert len(polls) == 0


async def test_once_the_app_sent_a_204_later_ones_skip_the_framework(
    client, other_client, polls, recipe, framework_calls
):
    unlock_id, _ = await checkout(client, polls, recipe["id"])
    status = f"/unlocks/{unlock_id}/status"
    first = await client.get(status, headers=HX)  # read from the database
    second = await client.get(status, headers=HX)  # 204 from memory, through the app
    framework_calls.clear()
    third = await client.get(status, headers=HX)  # 204 from memory, before routing
    assert framework_calls == []
    assert (first.status_code, second.status_code, third.status_code) == (200, 204, 204)
    routed = {k: v for k, v in second.headers.items() if k != "x-request-id"}
    assert dict(third.headers) == routed and third.content == b""
    assert "x-request-id" in second.headers  # the routed one's id is not replayed
    assert "default-src 'self'" in third.headers["content-security-policy"]
    assert "set-cookie" not in third.headers

    # Without htmx, with someone else's cookie, or a forged one: the app answers.
    assert (await client.get(status)).status_code == 200
    assert (await other_client.get(status, headers=HX)).status_code == 404
    other_client.cookies.set("lm_buyer", client.cookies["lm_buyer"][:-2] + "xx")
    assert (await other_client.get(status, headers=HX)).status_code == 404
    assert framework_calls == [status] * 3

    await Unlock.update(
        {
            Unlock.status: "COMPLETED",
            Unlock.provider_payment_id: "pay_Test0000000002",
            Unlock.completed_via: "webhook",
            Unlock.completed_at: Unlock.created_at,
        }
    ).where(Unlock.id == unlock_id)

    async def revealed() -> bool:
        r = await client.get(status, headers=HX)
        return r.status_code == 286 and "unlock-revealed" in r.text

    await wait_until(revealed, within=1.0)
