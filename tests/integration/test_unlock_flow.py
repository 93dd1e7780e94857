"""Buying a premium link, through the app's HTTP and the emulator's hosted checkout."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import time

import pytest
from litestar.testing import AsyncTestClient

from app.db.tables import Creator, Unlock
from app.emulator import faults
from app.payments.buyer import buyer_cookie_name, open_buyer
from app.whop import WhopClient
from tests.support.unlock_support import (
    DECLINES,
    HX,
    add_premium,
    local,
    make_seller,
    pay,
    query_of,
    start_checkout,
    unlock_row,
    whop_auth,
)
from tests.support.whop_testkit import (
    emulator_control,  # noqa: F401 (fixture)
    recorded_calls,
    wait_out_whop,
)

SECRET_URL = "https://secret.example/recipe?k=1"


@pytest.fixture
async def alice(client, settings, make_creator):
    return await make_seller(client, settings, make_creator, "alice", display_name="Alice")


@pytest.fixture
async def recipe(alice):
    return await add_premium(alice, title="Secret recipe", url=SECRET_URL, price_cents=500)


def buyer_of(client: AsyncTestClient, settings):
    return open_buyer(client.cookies.get(buyer_cookie_name(False)), settings.secret_key)


async def complete(unlock_id: str, payment_id: str = "pay_Test0000000001", **extra) -> None:
    await Unlock.update(
        {
            Unlock.status: "COMPLETED",
            Unlock.provider_payment_id: payment_id,
            Unlock.completed_via: "webhook",
            Unlock.completed_at: Unlock.created_at,
            **extra,
        }
    ).where(Unlock.id == unlock_id)


# --- the public page ---------------------------------------------------------------------


async def test_a_premium_link_shows_title_price_and_unlock_but_never_its_url(client, alice, recipe):
    r = await client.get("/alice")
    assert r.status_code == 200
    assert "Secret recipe" in r.text and "$5.00" in r.text
    assert f'href="/u/{recipe["id"]}"' in r.text
    assert f'hx-get="/u/{recipe["id"]}"' in r.text
    assert "secret.example" not in r.text  # not in a link, an attribute or a meta tag
    assert "set-cookie" not in r.headers  # the page stays the same for everyone, cacheable
    assert "htmx-2.0.11.min.js" in r.text
    assert "Restore purchases" in r.text


async def test_a_page_without_premium_links_loads_no_htmx(client, make_creator):
    """Only the page's own small deferred scripts (Share, click reports): not htmx, which
    only premium cards need."""
    await make_creator(handle="plain")
    r = await client.get("/plain")
    assert r.status_code == 200 and "htmx" not in r.text
    scripts = re.findall(r"<script[^>]*>", r.text)
    assert scripts and all(
        re.fullmatch(r'<script src="/static/js/[a-z]+\.js\?v=[0-9a-f]+" defer>', tag)
        for tag in scripts
    ), scripts


async def test_a_creator_who_cannot_sell_shows_no_unlock_and_refuses_one(client, make_creator):
    bob = await make_creator(handle="bob")  # no company, payouts not enabled
    link = await add_premium(bob, title="Members only")
    page = await client.get("/bob")
    assert "Members only" in page.text and "Not available" in page.text and "$5.00" not in page.text
    fragment = await client.get(f"/u/{link['id']}", headers=HX)
    assert "Unlock for" not in fragment.text and "not for sale" in fragment.text
    r = await client.post(f"/u/{link['id']}/unlock", headers=HX)
    assert r.status_code == 409 and "not for sale right now" in r.text
    assert await Unlock.count() == 0


async def test_the_fragment_is_private_and_carries_the_csrf_token(app, settings, recipe):
    async with AsyncTestClient(app, base_url=settings.app_url) as fresh:
        r = await fresh.get(f"/u/{recipe['id']}", headers=HX)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "private, no-store"
        token = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)[1]
        assert fresh.cookies["lm_csrf"] == token
        assert f'hx-post="/u/{recipe["id"]}/unlock"' in r.text
        assert "Unlock for $5.00" in r.text and "secret.example" not in r.text


async def test_the_fragment_of_an_unknown_or_ordinary_link_is_404(client, alice, recipe):
    assert (await client.get("/u/999999", headers=HX)).status_code == 404
    [plain] = await Creator.raw(
        "INSERT INTO link (creator, kind, title, url) VALUES ({}, 'link', 'x', "
        "'https://x.example') RETURNING id",
        alice["id"],
    )
    assert (await client.get(f"/u/{plain['id']}", headers=HX)).status_code == 404


# --- starting an unlock -------------------------------------------------------------------


async def test_unlock_opens_a_checkout_and_a_pending_unlock_bound_to_the_buyer(
    client, settings, alice, recipe
):
    r = await client.post(f"/u/{recipe['id']}/unlock", headers=HX)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "private, no-store"
    purchase_url = r.headers["hx-redirect"]
    [row] = await Unlock.select()
    assert row["status"] == "PENDING" and row["purchase_url"] == purchase_url
    assert (row["price_cents"], row["fee_cents"], row["currency"]) == (500, 50, "usd")
    assert row["creator"] == alice["id"] and row["link"] == recipe["id"]
    assert row["link_title"] == "Secret recipe"

    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("lm_buyer="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Max-Age=" in cookie and "Secure" not in cookie  # http:// in tests
    buyer = buyer_of(client, settings)
    assert row["buyer_token_hash"] == hashlib.sha256(buyer.token.encode()).hexdigest()
    assert buyer.token not in str(row)

    config = await client.get(
        f"/_whop/api/v1/checkout_configurations/{row['checkout_id']}", headers=whop_auth(settings)
    )
    body = config.json()
    assert body["metadata"] == {"unlock_id": row["id"]}
    assert body["redirect_url"] == f"{settings.app_url}/checkout/confirm?unlock={row['id']}"
    assert body["company_id"] == alice["whop_company_id"]
    assert body["plan"]["initial_price"] == 5.0 and body["plan"]["plan_type"] == "one_time"
    assert row["plan_id"] == body["plan"]["id"]  # a payment must be for this very plan


async def test_unlock_without_the_csrf_token_is_refused(app, settings, recipe):
    async with AsyncTestClient(app, base_url=settings.app_url) as stranger:
        await stranger.get(f"/u/{recipe['id']}", headers=HX)  # has the cookie, not the token
        r = await stranger.post(f"/u/{recipe['id']}/unlock", headers=HX)
    assert r.status_code == 403
    assert await Unlock.count() == 0


async def test_without_javascript_the_form_goes_to_checkout_through_our_own_page(
    app, settings, recipe
):
    async with AsyncTestClient(app, base_url=settings.app_url) as no_js:
        page = await no_js.get(f"/u/{recipe['id']}")
        assert page.status_code == 200 and "<form" in page.text and "<script" not in page.text
        assert page.headers["cache-control"] == "private, no-store"
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)[1]
        r = await no_js.post(
            f"/u/{recipe['id']}/unlock", data={"_csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == 303
        [row] = await Unlock.select()
        assert r.headers["location"] == f"/unlocks/{row['id']}/checkout"
        onward = await no_js.get(r.headers["location"])
        assert onward.status_code == 200
        assert f'http-equiv="refresh" content="0; url={row["purchase_url"]}"' in onward.text
        assert f'href="{row["purchase_url"]}"' in onward.text


async def test_a_second_click_or_tab_reuses_the_open_checkout(client, recipe):
    first = await client.post(f"/u/{recipe['id']}/unlock", headers=HX)
    second = await client.post(f"/u/{recipe['id']}/unlock", headers=HX)
    assert first.headers["hx-redirect"] == second.headers["hx-redirect"]
    many = await asyncio.gather(
        *(client.post(f"/u/{recipe['id']}/unlock", headers=HX) for _ in range(5))
    )
    assert {r.headers["hx-redirect"] for r in many} == {first.headers["hx-redirect"]}
    assert await Unlock.count() == 1


async def test_two_buyers_get_two_checkouts(client, other_client, recipe):
    mine, _ = await start_checkout(client, recipe["id"])
    theirs, _ = await start_checkout(other_client, recipe["id"])
    assert mine != theirs and await Unlock.count() == 2


async def test_a_price_change_retires_the_open_checkout(client, recipe):
    old, _ = await start_checkout(client, recipe["id"])
    await Creator.raw("UPDATE link SET price_cents = 900 WHERE id = {}", recipe["id"])
    new, _ = await start_checkout(client, recipe["id"])
    assert new != old
    assert (await unlock_row(old))["status"] == "EXPIRED"
    assert (await unlock_row(new))["price_cents"] == 900


@pytest.mark.usefixtures("emulator_control")
async def test_whop_down_shows_a_message_and_the_retry_reuses_the_unlock(client, recipe):
    await faults.add_fault(
        "api", method="POST", path="/checkout_configurations", status=502, times=3
    )
    r = await client.post(f"/u/{recipe['id']}/unlock", headers=HX)
    assert r.status_code == 503 and "retry-after" not in r.headers
    assert "could not reach the payment provider" in r.text and "Nothing was charged" in r.text
    assert "Unlock for $5.00" in r.text  # the button is right there to try again
    [half_made] = await Unlock.select()
    assert half_made["status"] == "PENDING" and half_made["checkout_id"] is None

    unlock_id, purchase_url = await start_checkout(client, recipe["id"])
    assert unlock_id == half_made["id"] and await Unlock.count() == 1


@pytest.mark.usefixtures("emulator_control")
async def test_whop_busy_answers_at_once_with_its_wait_and_is_not_asked_again_meanwhile(
    client, recipe
):
    # Whop's rate limit is per operation for the whole platform: a sale can use it up.
    await faults.add_fault(
        "api", method="POST", path="/checkout_configurations", status=429, retry_after=40
    )
    started = time.monotonic()
    r = await client.post(f"/u/{recipe['id']}/unlock", headers=HX)
    assert time.monotonic() - started < 10  # the buyer is not kept waiting Whop's 40 seconds
    assert r.status_code == 503 and r.headers["retry-after"] == "40"
    assert "The payment provider is busy" in r.text and "try again in 40 seconds" in r.text
    assert "Nothing was charged" in r.text and "Unlock for $5.00" in r.text

    # Whop would take it now (the fault is spent), but it asked for 40 seconds of quiet.
    again = await client.post(f"/u/{recipe['id']}/unlock", headers=HX)
    assert again.status_code == 503 and 30 < int(again.headers["retry-after"]) <= 40
    [half_made] = await Unlock.select()
    assert half_made["checkout_id"] is None

    wait_out_whop(client.app)
    unlock_id, _ = await start_checkout(client, recipe["id"])
    assert unlock_id == half_made["id"] and await Unlock.count() == 1


@pytest.mark.usefixtures("emulator_control")
async def test_a_short_wait_whop_asks_for_is_sat_out_inside_the_click(client, recipe):
    await faults.add_fault(
        "api", method="POST", path="/checkout_configurations", status=429, retry_after=1
    )
    unlock_id, purchase_url = await start_checkout(client, recipe["id"])
    assert (await unlock_row(unlock_id))["checkout_id"] is not None


@pytest.mark.usefixtures("emulator_control")
async def test_a_checkout_whop_made_but_could_not_report_is_found_again(client, recipe):
    await faults.add_fault(
        "api",
        method="POST",
        path="/checkout_configurations",
        status=429,
        retry_after=600,
        when="after",
    )
    assert (await client.post(f"/u/{recipe['id']}/unlock", headers=HX)).status_code == 503
    wait_out_whop(client.app)
    unlock_id, purchase_url = await start_checkout(client, recipe["id"])
    row = await unlock_row(unlock_id)
    made = await Creator.raw(
        "SELECT id FROM whop_emulator.checkout_configuration "
        "WHERE metadata::jsonb->>'unlock_id' = {}",
        unlock_id,
    )
    assert [m["id"] for m in made] == [row["checkout_id"]]  # one checkout, not two


@pytest.mark.usefixtures("emulator_control")
async def test_whop_refusing_the_checkout_closes_the_unlock_so_the_next_click_starts_afresh(
    client, recipe
):
    await faults.add_fault("api", method="POST", path="/checkout_configurations", status=422)
    r = await client.post(f"/u/{recipe['id']}/unlock", headers=HX)
    assert r.status_code == 503 and "Nothing was charged" in r.text
    [refused] = await Unlock.select()
    assert refused["status"] == "FAILED"
    fresh, _ = await start_checkout(client, recipe["id"])
    assert fresh != refused["id"]


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"currency": "whop_usd"}, "offered this link in WHOP_USD, not USD"),
        ({"price": 600}, "offered this link at $6.00, not $5.00"),
    ],
)
async def test_a_checkout_whop_opens_in_another_currency_or_price_is_never_offered(
    client, recipe, monkeypatch, changes, message
):
    create = WhopClient.create_checkout_configuration

    async def as_whop_answers(self, **request):
        return dataclasses.replace(await create(self, **request), **changes)

    monkeypatch.setattr(WhopClient, "create_checkout_configuration", as_whop_answers)
    r = await client.post(f"/u/{recipe['id']}/unlock", headers=HX)
    assert r.status_code == 503 and "hx-redirect" not in r.headers
    assert message in r.text and "Nothing was charged" in r.text
    [refused] = await Unlock.select()
    assert refused["status"] == "FAILED" and refused["purchase_url"] is None


async def test_a_buyer_who_owns_the_link_is_not_sent_to_a_new_checkout(client, recipe):
    unlock_id, _ = await start_checkout(client, recipe["id"])
    await complete(unlock_id)
    r = await client.post(f"/u/{recipe['id']}/unlock", headers=HX)
    assert r.status_code == 200 and "hx-redirect" not in r.headers
    assert f'href="{SECRET_URL.replace("&", "&amp;")}"' in r.text
    assert await Unlock.count() == 1


# --- paying, coming back, and what the buyer sees -------------------------------------------


async def test_paying_returns_to_the_page_where_the_link_is_revealed(client, recipe):
    unlock_id, purchase_url = await start_checkout(client, recipe["id"])
    paid = await pay(client, purchase_url)
    assert paid.status_code == 303
    back = query_of(paid.headers["location"])
    assert back["unlock"] == unlock_id and back["payment_id"].startswith("pay_")

    r = await client.get(local(paid.headers["location"]), follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/alice#premium-{recipe['id']}"
    row = await unlock_row(unlock_id)
    assert row["status"] == "COMPLETED" and row["provider_payment_id"] == back["payment_id"]
    assert row["completed_via"] in ("redirect", "webhook")  # whichever got there first
    assert row["buyer_email"] == "buyer@example.com" and row["buyer_whop_user_id"]

    fragment = await client.get(f"/u/{recipe['id']}", headers=HX)
    assert fragment.headers["cache-control"] == "private, no-store"
    assert f'<a class="page-link unlock-revealed" href="{SECRET_URL.replace("&", "&amp;")}"' in (
        fragment.text
    )
    status = await client.get(f"/unlocks/{unlock_id}/status", headers=HX)
    assert status.status_code == 286 and "unlock-revealed" in status.text


async def test_only_the_buyer_who_owns_the_unlock_ever_receives_the_url(
    client, other_client, recipe
):
    unlock_id, _ = await start_checkout(client, recipe["id"])
    await complete(unlock_id)
    assert (await other_client.get(f"/unlocks/{unlock_id}/status", headers=HX)).status_code == 404
    assert (await other_client.get(f"/unlocks/{unlock_id}/checkout")).status_code == 404
    theirs = await other_client.get(f"/u/{recipe['id']}", headers=HX)
    assert "secret.example" not in theirs.text and "Unlock for $5.00" in theirs.text
    forged = other_client.cookies.get("lm_buyer", "") + "x"
    other_client.cookies.set("lm_buyer", forged)
    assert (await other_client.get(f"/unlocks/{unlock_id}/status", headers=HX)).status_code == 404
    assert (await client.get(f"/unlocks/{unlock_id}/status", headers=HX)).status_code == 286


async def test_the_status_keeps_polling_while_pending_and_stops_once_settled(client, recipe):
    unlock_id, purchase_url = await start_checkout(client, recipe["id"])
    pending = await client.get(f"/unlocks/{unlock_id}/status", headers=HX)
    assert pending.status_code == 200
    assert 'hx-trigger="every 1s"' in pending.text and f'href="{purchase_url}"' in pending.text
    assert pending.headers["cache-control"] == "private, no-store"

    await Unlock.update({Unlock.status: "FAILED"}).where(Unlock.id == unlock_id)
    failed = await client.get(f"/unlocks/{unlock_id}/status", headers=HX)
    assert failed.status_code == 286 and "did not go through" in failed.text
    assert "Try again for $5.00" in failed.text and "every 1s" not in failed.text

    await Unlock.update({Unlock.status: "EXPIRED"}).where(Unlock.id == unlock_id)
    expired = await client.get(f"/unlocks/{unlock_id}/status", headers=HX)
    assert expired.status_code == 286 and "expired before it was paid" in expired.text

    await complete(unlock_id)
    await Unlock.update({Unlock.status: "REFUNDED", Unlock.refunded_at: Unlock.created_at}).where(
        Unlock.id == unlock_id
    )
    refunded = await client.get(f"/unlocks/{unlock_id}/status", headers=HX)
    assert refunded.status_code == 286 and "refunded" in refunded.text
    assert "secret.example" not in refunded.text  # the link is hidden again


async def test_an_old_pending_checkout_stops_polling(client, recipe):
    unlock_id, _ = await start_checkout(client, recipe["id"])
    await Creator.raw(
        "UPDATE unlock SET created_at = now() - interval '1 hour' WHERE id = {}", unlock_id
    )
    r = await client.get(f"/unlocks/{unlock_id}/status", headers=HX)
    assert r.status_code == 286 and "every 1s" not in r.text and "Check again" in r.text


async def test_a_declined_card_shows_failure_and_a_retry(client, recipe):
    unlock_id, purchase_url = await start_checkout(client, recipe["id"])
    declined = await pay(client, purchase_url, card=DECLINES)
    assert declined.status_code == 402
    back = re.search(r'href="([^"]*checkout_status=error[^"]*)"', declined.text)[1]
    r = await client.get(local(back.replace("&amp;", "&")), follow_redirects=False)
    assert r.status_code == 303
    assert (await unlock_row(unlock_id))["status"] == "FAILED"
    fragment = await client.get(f"/u/{recipe['id']}", headers=HX)
    assert "did not go through" in fragment.text and "Try again for $5.00" in fragment.text
    retry_id, _ = await start_checkout(client, recipe["id"])
    assert retry_id != unlock_id


async def test_confirm_for_an_unknown_unlock_is_404_and_calls_nobody(client):
    # Every call the app makes to Whop's API goes through its one WhopClient.
    whop_calls = recorded_calls(client.app.state.whop)
    for query in ("?unlock=nope", "", "?unlock=AAAAAAAAAAAAAAAAAAAAAAAA&payment_id=pay_x"):
        r = await client.get(f"/checkout/confirm{query}", follow_redirects=False)
        assert r.status_code == 404
    assert whop_calls == []


async def test_a_stored_url_that_fails_the_safety_check_is_never_revealed(client, alice):
    link = await add_premium(alice, title="Sneaky", url="javascript:alert(1)")
    unlock_id, _ = await start_checkout(client, link["id"])
    await complete(unlock_id)
    r = await client.get(f"/u/{link['id']}", headers=HX)
    assert "javascript:" not in r.text and "not available right now" in r.text


# --- restoring purchases on a new device ----------------------------------------------------


async def test_restore_asks_an_anonymous_visitor_to_sign_in_first(client):
    r = await client.get("/unlocks/restore?next=/alice", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/auth/login?next=%2Funlocks%2Frestore%3Fnext%3D%252Falice"


async def test_restore_binds_what_the_whop_account_bought_to_this_browser(
    client, other_client, make_creator, sign_in, recipe
):
    unlock_id, _ = await start_checkout(client, recipe["id"])
    await complete(unlock_id, buyer_whop_user_id="user_Buyer0000001")
    someone_else = await make_creator(handle=None, whop_user_id="user_Someone00001")
    me = await make_creator(handle=None, whop_user_id="user_Buyer0000001")

    await sign_in(other_client, someone_else)
    page = await other_client.get("/unlocks/restore?next=/alice")
    assert "We found no premium links" in page.text

    await sign_in(other_client, me)
    page = await other_client.get("/unlocks/restore?next=/alice")
    assert page.status_code == 200 and "Secret recipe" in page.text
    assert page.headers["cache-control"] == "private, no-store"
    assert (await other_client.get(f"/u/{recipe['id']}", headers=HX)).text.count("secret.") == 0
    r = await other_client.post("/unlocks/restore", data={"next": "/alice"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/alice"
    revealed = await other_client.get(f"/u/{recipe['id']}", headers=HX)
    assert "unlock-revealed" in revealed.text
    assert (await other_client.get(f"/unlocks/{unlock_id}/status", headers=HX)).status_code == 286
    assert (await unlock_row(unlock_id))["buyer_token_hash"] == buyer_of(
        client, client.app.state.settings
    ).token_hash  # the first browser keeps it too


async def test_restore_goes_back_only_to_a_local_page(client, make_creator, sign_in):
    me = await make_creator(handle=None, whop_user_id="user_Buyer0000002")
    await sign_in(client, me)
    for evil in ("https://evil.example", "//evil.example", "/a/b", "/%2F%2Fevil"):
        r = await client.post("/unlocks/restore", data={"next": evil}, follow_redirects=False)
        assert r.headers["location"] == "/"
