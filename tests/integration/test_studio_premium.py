"""Premium links in the studio: priced in the creator's currency, within the platform's
bounds, with the fee shown up front, and only once Whop can pay the creator."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db.tables import CurrencyRule, PlatformConfig
from app.shared.rules import InvalidField, parse_price, price_input
from app.studio import service
from tests.support.studio_support import HX, add_links, link_rows, snapshot

LOCKED = "Enable earnings before you price a link"
PAID_URL = "https://example.com/paid"


@pytest.fixture
async def seller(client, make_creator, sign_in) -> dict[str, Any]:
    """A creator whose payouts Whop has confirmed."""
    creator = await make_creator(
        handle="seller", display_name="Sam", whop_company_id="biz_Seller", payout_enabled=True
    )
    await sign_in(client, creator)
    return creator


@pytest.fixture
async def newcomer(client, make_creator, sign_in) -> dict[str, Any]:
    """A creator who has not enabled earnings."""
    creator = await make_creator(handle="newcomer")
    await sign_in(client, creator)
    return creator


@pytest.fixture
async def money_config():
    """Change the money rules for one test; they are restored afterwards. Bounds and the
    minimum fee are usd's (`currency_rule`); `allowed_currencies` allows exactly those."""
    original = await PlatformConfig.select().where(PlatformConfig.id == 1).first()
    rules = await CurrencyRule.select()
    per_currency = {"min_price_cents": "min_price_minor", "max_price_cents": "max_price_minor"}
    per_currency["fee_min_cents"] = "fee_min_minor"

    async def change(**values: Any) -> None:
        if (allowed := values.pop("allowed_currencies", None)) is not None:
            await CurrencyRule.raw("UPDATE currency_rule SET allowed = currency = ANY({})", allowed)
        usd = {per_currency[k]: values.pop(k) for k in list(values) if k in per_currency}
        if usd:
            await CurrencyRule.update(usd).where(CurrencyRule.currency == "usd")
        if values:
            await PlatformConfig.update(values).where(PlatformConfig.id == 1)

    yield change
    await PlatformConfig.update({k: v for k, v in original.items() if k != "id"}).where(
        PlatformConfig.id == 1
    )
    for rule in rules:
        await CurrencyRule.update(rule).where(CurrencyRule.currency == rule["currency"])


async def add_premium(client, price: str, title: str = "Secret recipe", **extra: str):
    data = {"kind": "premium", "title": title, "url": "https://example.com/secret", "price": price}
    return await client.post("/dashboard/links", data={**data, **extra}, headers=HX)


# --- before payouts are enabled -------------------------------------------------------------


async def test_pricing_is_refused_until_earnings_are_enabled(client, newcomer):
    before = await snapshot()
    r = await add_premium(client, "4.99")
    assert r.status_code == 422
    assert LOCKED in r.text
    assert await snapshot() == before


async def test_the_premium_option_is_disabled_with_an_explanation(client, newcomer):
    page = await client.get("/dashboard")
    assert 'id="kind-premium" disabled aria-describedby="premium-locked"' in page.text
    assert "Premium links (buyers pay to unlock them) need" in page.text
    assert 'id="new-price"' not in page.text  # no price field to fill in
    assert "Enable earnings" in page.text


async def test_the_database_refuses_a_premium_row_without_payouts(newcomer):
    """The payout check is in the INSERT itself, not only in the form."""
    with pytest.raises(service.PricingLocked):
        await service.add_link(
            newcomer["id"], kind="premium", title="x", url="https://e.com", price_cents=500
        )
    assert await link_rows(newcomer) == []


async def test_a_plain_link_cannot_be_made_premium_before_payouts(client, newcomer):
    [link] = await add_links(newcomer, {"title": "Free"})
    r = await client.post(
        f"/dashboard/links/{link['id']}",
        data={"title": "Free", "url": link["url"], "premium": "on", "price": "3"},
        headers=HX,
    )
    assert r.status_code == 422 and LOCKED in r.text
    [row] = await link_rows(newcomer)
    assert (row["kind"], row["price_cents"]) == ("link", None)


async def test_the_edit_form_offers_premium_only_once_earnings_are_on(client, newcomer):
    [link] = await add_links(newcomer, {"title": "Free"})
    r = await client.get(f"/dashboard/links/{link['id']}/edit", headers=HX)
    assert f'id="edit-premium-{link["id"]}" disabled' in r.text
    assert "Enable earnings first to price a link." in r.text


# --- adding and editing premium links -------------------------------------------------------


async def test_adding_a_premium_link_stores_the_price_in_minor_units(client, seller):
    r = await add_premium(client, "4.99")
    assert r.status_code == 200, r.text
    assert "Premium link “Secret recipe” added." in r.text
    assert r.headers["hx-trigger"] == "page-changed"
    [row] = await link_rows(seller)
    assert (row["kind"], row["price_cents"], row["url"]) == (
        "premium",
        499,
        "https://example.com/secret",
    )
    assert 'class="badge badge-premium link-price"' in r.text and "$4.99" in r.text


async def test_the_add_form_explains_bounds_and_fee(client, seller):
    page = await client.get("/dashboard")
    assert 'id="kind-premium" disabled' not in page.text
    assert "Price (USD)" in page.text
    assert "From $1.00 to $1,000.00. The platform fee is 10% (at least $0.50)." in page.text


async def test_a_price_is_ignored_on_a_free_link(client, seller):
    r = await client.post(
        "/dashboard/links",
        data={"kind": "link", "title": "Free", "url": "https://e.com", "price": "5"},
        headers=HX,
    )
    assert r.status_code == 200
    [row] = await link_rows(seller)
    assert (row["kind"], row["price_cents"]) == ("link", None)


@pytest.mark.parametrize(
    "typed,cents",
    [
        ("4.99", 499),
        ("$4.99", 499),
        (" 12 ", 1200),
        ("19.9", 1990),
        ("1.13", 113),  # 1.13 * 100 is 112.99999999999999 as a float
        ("4.35", 435),  # and 4.35 * 100 is 434.99999999999994
        ("1,000", 100000),
        ("1000.00", 100000),
        ("0001.50", 150),
    ],
)
async def test_prices_are_parsed_exactly(client, seller, typed, cents):
    r = await add_premium(client, typed)
    assert r.status_code == 200, r.text
    [row] = await link_rows(seller)
    assert row["price_cents"] == cents


@pytest.mark.parametrize(
    "typed,message",
    [
        ("", "Enter a price, like 4.99."),
        ("4,99", "Use a point for the decimals, like 4.99."),
        ("4.999", "Use at most 2 decimals, like 4.99."),
        ("-5", "A price must be more than zero."),
        ("0", "A price must be more than zero."),
        ("abc", "Enter the price as a number, like 4.99."),
        ("1e3", "Enter the price as a number, like 4.99."),
        ("NaN", "Enter the price as a number, like 4.99."),
        ("4.99.1", "Enter the price as a number, like 4.99."),
        ("0.99", "The lowest price is $1.00."),
        ("1000.01", "The highest price is $1,000.00."),
        ("99999999999", "That price is far too large."),
    ],
)
async def test_a_bad_price_is_refused_beside_the_field(client, seller, typed, message):
    before = await snapshot()
    r = await add_premium(client, typed)
    assert r.status_code == 422
    assert message in r.text
    assert 'id="new-price-error"' in r.text
    assert await snapshot() == before
    assert f'value="{typed.strip()}"' in r.text  # what was typed stays in the field
    assert 'id="kind-premium" checked' in r.text and 'id="kind-link" checked' not in r.text


async def test_price_bounds_come_from_platform_config(client, seller, money_config):
    await money_config(min_price_cents=500, max_price_cents=2000)
    assert "The lowest price is $5.00." in (await add_premium(client, "4.99")).text
    assert "The highest price is $20.00." in (await add_premium(client, "20.01")).text
    assert (await add_premium(client, "20")).status_code == 200


async def test_a_currency_the_platform_does_not_accept_is_refused(
    client, make_creator, sign_in, money_config
):
    await money_config(allowed_currencies=["usd"], default_currency="usd")
    euro = await make_creator(handle="euro", currency="eur", payout_enabled=True)
    await sign_in(client, euro)
    before = await snapshot()
    r = await add_premium(client, "5")
    assert r.status_code == 422 and "Prices in EUR are not accepted here." in r.text
    assert await snapshot() == before


async def test_prices_are_in_the_creators_currency(client, make_creator, sign_in):
    pound = await make_creator(handle="pound", currency="gbp", payout_enabled=True)
    await sign_in(client, pound)
    page = await client.get("/dashboard")
    assert "Price (GBP)" in page.text and "From £1.00 to £1,000.00" in page.text
    r = await add_premium(client, "£7.50")
    assert r.status_code == 200 and "£7.50" in r.text
    [row] = await link_rows(pound)
    assert row["price_cents"] == 750


async def test_editing_turns_a_link_premium_and_back(client, seller):
    [link] = await add_links(seller, {"title": "Guide"})
    r = await client.post(
        f"/dashboard/links/{link['id']}",
        data={"title": "Guide", "url": link["url"], "premium": "on", "price": "3"},
        headers=HX,
    )
    assert r.status_code == 200, r.text
    assert "$3.00" in r.text
    [row] = await link_rows(seller)
    assert (row["kind"], row["price_cents"]) == ("premium", 300)

    edit = await client.get(f"/dashboard/links/{link['id']}/edit", headers=HX)
    assert 'value="3.00"' in edit.text
    assert "You receive $2.50 after the $0.50 platform fee." in edit.text
    assert f'id="edit-premium-{link["id"]}" checked' in edit.text

    await client.post(
        f"/dashboard/links/{link['id']}",
        data={"title": "Guide", "url": link["url"], "price": "3"},
        headers=HX,
    )
    [row] = await link_rows(seller)
    assert (row["kind"], row["price_cents"]) == ("link", None)


async def test_a_bad_price_in_the_editor_is_refused_inline(client, seller):
    premium = {"kind": "premium", "price_cents": 500, "url": PAID_URL}
    [link] = await add_links(seller, {"title": "Guide", **premium})
    r = await client.post(
        f"/dashboard/links/{link['id']}",
        data={"title": "Guide", "url": link["url"], "premium": "on", "price": "5.555"},
        headers=HX,
    )
    assert r.status_code == 422
    assert "Use at most 2 decimals" in r.text
    assert f'id="edit-price-{link["id"]}-error"' in r.text
    [row] = await link_rows(seller)
    assert row["price_cents"] == 500


async def test_a_header_never_becomes_premium(client, seller):
    [header] = await add_links(seller, {"title": "Music", "kind": "header"})
    r = await client.post(
        f"/dashboard/links/{header['id']}",
        data={"title": "Tunes", "premium": "on", "price": "5"},
        headers=HX,
    )
    assert r.status_code == 200
    [row] = await link_rows(seller)
    assert (row["kind"], row["title"], row["price_cents"]) == ("header", "Tunes", None)


async def test_a_premium_link_keeps_its_price_while_payouts_are_re_verified(
    client, make_creator, sign_in
):
    """Payouts switched off later (a webhook): the title can still be fixed, the price not."""
    lapsed = await make_creator(handle="lapsed", payout_enabled=False)
    await sign_in(client, lapsed)
    premium = {"kind": "premium", "price_cents": 500, "url": PAID_URL}
    [link] = await add_links(lapsed, {"title": "Old", **premium})
    url = f"/dashboard/links/{link['id']}"
    fields = {"url": link["url"], "premium": "on"}
    ok = await client.post(url, data={**fields, "title": "New", "price": "5.00"}, headers=HX)
    assert ok.status_code == 200
    refused = await client.post(url, data={**fields, "title": "New", "price": "6"}, headers=HX)
    assert refused.status_code == 422 and LOCKED in refused.text
    [row] = await link_rows(lapsed)
    assert (row["title"], row["price_cents"]) == ("New", 500)

    free = await client.post(url, data={"url": link["url"], "title": "New"}, headers=HX)
    assert free.status_code == 200  # making it free again is always allowed
    [row] = await link_rows(lapsed)
    assert (row["kind"], row["price_cents"]) == ("link", None)


async def test_premium_rows_show_their_price_in_the_list(client, seller):
    await add_links(
        seller,
        {"title": "Free"},
        {"title": "Paid", "kind": "premium", "price_cents": 1250, "url": PAID_URL},
    )
    page = await client.get("/dashboard")
    paid_row = page.text.split("Paid</span>")[1].split("</p>")[0]
    assert "$12.50" in paid_row
    free_row = page.text.split("Free</span>")[1].split("</p>")[0]
    assert "link-price" not in free_row


async def test_adding_premium_without_javascript_redirects_back(client, seller):
    data = {"kind": "premium", "title": "Paid", "url": "https://e.com/p", "price": "2.50"}
    r = await client.post("/dashboard/links", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#links"
    [row] = await link_rows(seller)
    assert row["price_cents"] == 250


# --- the fee preview ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed,line",
    [
        ("4.99", "You receive $4.49 after the $0.50 platform fee."),  # the minimum fee
        ("20", "You receive $18.00 after the $2.00 platform fee."),  # 10 %
        ("12.345", "Use at most 2 decimals, like 4.99."),
        ("0.50", "The lowest price is $1.00."),
    ],
)
async def test_the_fee_preview_says_what_the_creator_receives(client, seller, typed, line):
    r = await client.get("/dashboard/links/price-preview", params={"price": typed}, headers=HX)
    assert r.status_code == 200
    assert line in r.text


async def test_the_fee_preview_is_empty_for_an_empty_field(client, seller):
    r = await client.get("/dashboard/links/price-preview?price=", headers=HX)
    assert r.text.strip() == ""


async def test_the_fee_preview_follows_platform_config(client, seller, money_config):
    await money_config(fee_bps=500, fee_min_cents=30)
    r = await client.get("/dashboard/links/price-preview?price=10", headers=HX)
    assert "You receive $9.50 after the $0.50 platform fee." in r.text
    page = await client.get("/dashboard")
    assert "The platform fee is 5% (at least $0.30)." in page.text


async def test_a_refused_add_keeps_the_fee_preview(client, seller):
    before = await snapshot()
    r = await add_premium(client, "10", title="")
    assert r.status_code == 422
    assert await snapshot() == before
    assert "You receive $9.00 after the $1.00 platform fee." in r.text


# --- price parsing as a property ------------------------------------------------------------


@given(cents=st.integers(min_value=1, max_value=10**11 - 1))
def test_a_price_shown_in_the_editor_parses_back_to_the_same_minor_units(cents):
    assert parse_price(price_input(cents, "usd"), "usd") == cents
    assert parse_price("$" + price_input(cents, "usd"), "usd") == cents


@given(whole=st.integers(min_value=0, max_value=10**6), fraction=st.integers(0, 99))
def test_a_decimal_price_is_its_digits_never_a_float(whole, fraction):
    text = f"{whole}.{fraction:02d}"
    if whole == 0 and fraction == 0:
        with pytest.raises(InvalidField):
            parse_price(text, "usd")
    else:
        assert parse_price(text, "usd") == whole * 100 + fraction


def test_zero_decimal_currencies_take_whole_numbers():
    assert parse_price("1200", "jpy") == 1200
    with pytest.raises(InvalidField, match="whole numbers"):
        parse_price("12.5", "jpy")
