"""A creator's selling currency: the operator allows currencies (`linkmint currencies`), each
with its own bounds in its own minor units; a creator picks one in the studio; a JPY price is
whole yen everywhere, at Whop too; a switch never touches past sales."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.auth.service import record_sign_in
from app.db.tables import Creator, CurrencyRule, Link, PlatformConfig, Unlock
from app.shared import currencies
from app.shared.fees import money_rules
from tests.support.pages import sale_rows
from tests.support.studio_support import HX, creator_row, link_rows, snapshot
from tests.support.unlock_support import (
    add_premium,
    local,
    make_seller,
    pay,
    start_checkout,
    unlock_row,
    whop_auth,
)

ROOT = Path(__file__).resolve().parents[2]
THREE_DECIMALS = "KWD has three decimals, and whether Whop charges three-decimal currencies"


@pytest.fixture(autouse=True)
async def rules_restored():
    """The operator's rules as the migrations left them, after each test."""
    config = await PlatformConfig.select().where(PlatformConfig.id == 1).first()
    rules = await CurrencyRule.select()
    yield
    await PlatformConfig.update({k: v for k, v in config.items() if k != "id"}).where(
        PlatformConfig.id == 1
    )
    await CurrencyRule.delete(force=True)
    await CurrencyRule.insert(*(CurrencyRule(**rule) for rule in rules))


def linkmint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "currencies", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def allow_jpy() -> None:
    await currencies.set_bounds("jpy", currencies.Bounds(), allow=True)


@pytest.fixture
async def seller(client, settings, make_creator, sign_in) -> dict[str, Any]:
    """A creator who can sell (a Whop company at the emulator), signed in on `client`."""
    creator = await make_seller(client, settings, make_creator, "kenji", display_name="Kenji")
    await sign_in(client, creator)
    return creator


async def choose(client, currency: str, *, htmx: bool = True):
    headers = HX if htmx else {}
    return await client.post(
        "/dashboard/currency", data={"currency": currency}, headers=headers, follow_redirects=False
    )


# --- the operator ---------------------------------------------------------------------------


async def test_the_migration_keeps_the_old_bounds_for_the_currencies_already_allowed():
    rules = await money_rules()
    assert rules.allowed_currencies == ("eur", "gbp", "usd")
    usd = rules.rule_for("usd")
    assert (usd.min_price_minor, usd.max_price_minor, usd.fee_min_minor) == (100, 100_000, 50)
    jpy = next(rule for rule in rules.currencies if rule.currency == "jpy")
    assert not jpy.allowed and (jpy.min_price_minor, jpy.fee_min_minor) == (100, 75)


async def test_the_operator_allows_sets_and_disallows_a_currency_from_the_command_line():
    done = linkmint("allow", "JPY")
    assert done.returncode == 0, done.stderr
    assert "JPY  allowed       prices ¥100 to ¥150,000, fee at least ¥75" in done.stdout
    assert "jpy" in (await money_rules()).allowed_currencies

    done = linkmint("set", "jpy", "--min", "300", "--fee-min", "100")
    assert done.returncode == 0, done.stderr
    assert "JPY  allowed       prices ¥300 to ¥150,000, fee at least ¥100" in done.stdout

    done = linkmint("disallow", "jpy")
    assert done.returncode == 0, done.stderr
    assert "JPY  not allowed   prices ¥300" in done.stdout
    assert "jpy" not in (await money_rules()).allowed_currencies


async def test_new_creators_start_in_the_default_currency_which_must_be_allowed():
    with pytest.raises(currencies.CurrencyRefused, match="Allow JPY before making it the default"):
        await currencies.set_default("jpy")
    await allow_jpy()
    await currencies.set_default("jpy")
    creator = await record_sign_in(
        whop_user_id="user_Yen000000001", email=None, name="Yui", username=None, picture=None
    )
    assert creator.currency == "jpy"
    with pytest.raises(currencies.CurrencyRefused, match="JPY is the default currency"):
        await currencies.set_bounds("jpy", currencies.Bounds(), allow=False)


@pytest.mark.parametrize(
    "args,message",
    [
        (("allow", "chf"), "CHF has no price bounds yet: give --min, --max and --fee-min"),
        (("allow", "chf", "--min", "100", "--max", "50", "--fee-min", "10"), "--max must be"),
        (("set", "usd", "--fee-min", "100"), "--fee-min must be at least zero and below --min"),
        (("disallow", "usd"), "USD is the default currency"),
        (("allow", "dollars"), "'dollars' is not an ISO 4217 currency code"),
        (("allow", "kwd", "--min", "500", "--max", "99000", "--fee-min", "100"), THREE_DECIMALS),
    ],
)
async def test_an_operators_mistake_is_refused_with_the_reason_and_changes_nothing(args, message):
    before = await snapshot(CurrencyRule, PlatformConfig)
    done = linkmint(*args)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert await snapshot(CurrencyRule, PlatformConfig) == before


async def test_kwd_is_refused_until_the_operator_accepts_three_decimal_currencies(client, seller):
    kwd = currencies.Bounds(min_price=500, max_price=100_000, fee_min=100)
    with pytest.raises(currencies.CurrencyRefused, match=THREE_DECIMALS):
        await currencies.set_bounds("kwd", kwd, allow=True)
    r = await choose(client, "kwd")  # a hand-made request: the select does not offer it
    assert r.status_code == 422 and "Prices in KWD are not accepted here." in r.text
    assert (await creator_row(seller))["currency"] == "usd"

    await currencies.set_three_decimal(True)  # the operator's choice, once Whop confirms
    await currencies.set_bounds("kwd", kwd, allow=True)
    assert "kwd" in (await money_rules()).allowed_currencies
    await currencies.set_three_decimal(False)  # off again: KWD prices are refused at once
    r = await choose(client, "kwd")
    assert r.status_code == 422 and THREE_DECIMALS in r.text


# --- the studio's select --------------------------------------------------------------------


async def test_the_select_lists_the_allowed_currencies_with_the_creators_chosen(client, seller):
    await allow_jpy()
    page = await client.get("/dashboard")
    assert '<label for="currency">Selling currency</label>' in page.text
    assert (
        '<option value="eur">EUR (€)</option><option value="gbp">GBP (£)</option>'
        '<option value="jpy">JPY (¥)</option><option value="usd" selected>USD ($)</option>'
    ) in page.text
    assert 'value="cad"' not in page.text  # has bounds, but the operator has not allowed it


async def test_choosing_jpy_prices_links_in_whole_yen(client, seller):
    await allow_jpy()
    r = await choose(client, "jpy")
    assert r.status_code == 200, r.text
    assert "You now sell in JPY. Past sales keep their currency." in r.text
    assert '<option value="jpy" selected>' in r.text
    # The link list comes along out of band, its price field now in yen.
    assert 'id="links" class="card"' in r.text and 'hx-swap-oob="true"' in r.text
    assert "Price (JPY)" in r.text and "From ¥100 to ¥150,000." in r.text
    assert 'placeholder="500"' in r.text
    assert (await creator_row(seller))["currency"] == "jpy"

    preview = await client.get("/dashboard/links/price-preview?price=1500", headers=HX)
    assert "You receive ¥1,350 after the ¥150 platform fee." in preview.text
    refused = await client.get("/dashboard/links/price-preview?price=1500.5", headers=HX)
    assert "Prices in JPY are whole numbers, like 500." in refused.text
    low = await client.get("/dashboard/links/price-preview?price=99", headers=HX)
    assert "The lowest price is ¥100." in low.text

    data = {
        "kind": "premium",
        "title": "Tokyo guide",
        "url": "https://x.example/g",
        "price": "¥1500",
    }
    added = await client.post("/dashboard/links", data=data, headers=HX)
    assert added.status_code == 200, added.text
    [link] = await link_rows(seller)
    assert link["price_cents"] == 1500  # minor units of JPY: yen
    assert "¥1,500" in added.text
    page = await client.get("/kenji")
    assert "¥1,500" in page.text and "$" not in page.text.split("<body", 1)[1]


async def test_a_plain_post_switches_and_returns_to_the_earnings_card(client, seller):
    await allow_jpy()
    r = await choose(client, "jpy", htmx=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard#earnings"
    assert (await creator_row(seller))["currency"] == "jpy"
    page = await client.get("/dashboard")
    assert '<option value="jpy" selected>' in page.text and "Price (JPY)" in page.text


async def test_a_switch_is_refused_while_a_premium_link_has_a_price(client, seller):
    await allow_jpy()
    await add_premium(seller, title="One")
    await add_premium(seller, title="Two", position=1)
    before = await snapshot()
    r = await choose(client, "jpy")
    assert r.status_code == 422
    assert (
        "You have 2 premium links priced in USD, and prices are never converted. Make them "
        "ordinary links or delete them first, then switch to JPY and price again."
    ) in r.text
    assert 'aria-invalid="true"' in r.text and 'id="currency-error"' in r.text
    assert await snapshot() == before

    plain = await choose(client, "jpy", htmx=False)  # without JavaScript: the whole studio
    assert plain.status_code == 422 and "Your studio" in plain.text
    assert "You have 2 premium links priced in USD" in plain.text
    assert (await creator_row(seller))["currency"] == "usd"


async def test_a_creator_whose_currency_is_disallowed_sees_why_and_keeps_it_until_switching(
    client, seller
):
    await Creator.update({Creator.currency: "gbp"}).where(Creator.id == seller["id"])
    await currencies.set_bounds("gbp", currencies.Bounds(), allow=False)
    page = await client.get("/dashboard")
    assert '<option value="gbp" selected>GBP (£), not accepted now</option>' in page.text
    assert '<p class="hint" id="new-price-hint">Prices in GBP are not accepted here.</p>' in (
        page.text
    )
    r = await choose(client, "eur")
    assert r.status_code == 200 and (await creator_row(seller))["currency"] == "eur"
    assert "From €1.00 to €1,000.00." in r.text


@pytest.mark.parametrize(
    "sent,message",
    [
        ("cad", "Prices in CAD are not accepted here."),  # has bounds, not allowed
        ("chf", "Prices in CHF are not accepted here."),  # no rule at all
        ("<b>", "Choose a currency from the list."),
        ("", "Choose a currency from the list."),
    ],
)
async def test_a_currency_the_operator_does_not_allow_is_refused(client, seller, sent, message):
    before = await snapshot()
    r = await choose(client, sent)
    assert r.status_code == 422 and message in r.text
    assert await snapshot() == before


async def test_switching_needs_the_csrf_token_and_a_signed_in_creator(client, other_client, seller):
    await allow_jpy()
    stranger = await choose(other_client, "jpy")  # a CSRF token, but nobody signed in
    assert stranger.headers["hx-redirect"].startswith("/auth/login")  # off to sign in
    del client.headers["x-csrftoken"]
    r = await choose(client, "jpy")
    assert r.status_code == 403
    assert (await creator_row(seller))["currency"] == "usd"


# --- paying in yen, and switching after sales -----------------------------------------------


async def buy(buyer, link_id: int) -> tuple[str, str]:
    """A buyer pays for the link on the emulator's checkout and comes back; the unlock id
    and the checkout page as the buyer saw it."""
    unlock_id, purchase_url = await start_checkout(buyer, link_id)
    checkout = await buyer.get(purchase_url)
    paid = await pay(buyer, purchase_url)
    assert paid.status_code == 303, paid.text
    back = await buyer.get(local(paid.headers["location"]), follow_redirects=False)
    assert back.status_code == 303
    assert (await unlock_row(unlock_id))["status"] == "COMPLETED"
    return unlock_id, checkout.text


async def test_a_jpy_sale_is_charged_and_paid_out_in_whole_yen(
    client, other_client, settings, seller
):
    await allow_jpy()
    assert (await choose(client, "jpy")).status_code == 200
    link = await add_premium(seller, title="Tokyo guide", price_cents=1500)

    page = await other_client.get("/kenji")
    assert "¥1,500" in page.text
    unlock_id, checkout_page = await buy(other_client, link["id"])
    assert "¥1,500" in checkout_page  # the emulator's checkout, in yen

    row = await unlock_row(unlock_id)
    assert (row["price_cents"], row["fee_cents"], row["currency"]) == (1500, 150, "jpy")
    config = await client.get(
        f"/_whop/api/v1/checkout_configurations/{row['checkout_id']}", headers=whop_auth(settings)
    )
    plan = config.json()["plan"]
    assert (plan["currency"], plan["initial_price"]) == ("jpy", 1500)
    payment = await client.get(
        f"/_whop/api/v1/payments/{row['provider_payment_id']}", headers=whop_auth(settings)
    )
    assert payment.json()["currency"] == "jpy" and payment.json()["total"] == 1500
    assert payment.json()["application_fee"]["amount"] == 150
    ledger = await client.get(
        f"/_whop/api/v1/ledger_accounts/{seller['whop_company_id']}", headers=whop_auth(settings)
    )
    balances = {b["currency"]: b["balance"] for b in ledger.json()["balances"]}
    assert balances == {"jpy": 1350}  # the creator's share, in yen

    studio = await client.get("/dashboard")
    assert sale_rows(studio.text)[0][3:] == ["¥1,500", "¥150", "¥1,350"]
    assert "¥1,350" in studio.text.split('class="total-net"', 1)[1][:40]
    payouts = await client.get("/dashboard/payouts")
    assert 'data-currency="JPY"' in payouts.text


async def test_switching_keeps_past_sales_in_their_currency_and_totals_each(
    client, other_client, seller
):
    await allow_jpy()
    dollars = await add_premium(seller, title="Recipe", price_cents=500)
    first, _ = await buy(other_client, dollars["id"])

    assert (await choose(client, "jpy")).status_code == 422  # the priced link is in USD
    await Link.delete().where(Link.id == dollars["id"])
    assert (await choose(client, "jpy")).status_code == 200
    yen = await add_premium(seller, title="Tokyo guide", price_cents=1500)
    await buy(other_client, yen["id"])

    old = await unlock_row(first)
    assert (old["price_cents"], old["fee_cents"], old["currency"]) == (500, 50, "usd")
    assert await Unlock.count().where(Unlock.currency == "jpy") == 1
    studio = await client.get("/dashboard")
    assert "Net earnings in JPY" in studio.text and "Net earnings in USD" in studio.text
    assert [row[3:] for row in sale_rows(studio.text)] == [
        ["¥1,500", "¥150", "¥1,350"],
        ["$5.00", "$0.50", "$4.50"],
    ]


# --- a rolling upgrade ----------------------------------------------------------------------

# What the version before this one read of the money settings: the whole platform_config row
# as its table declared it, one set of bounds for every currency.
PREVIOUS_VERSIONS_READ = (
    "SELECT id, fee_bps, fee_min_cents, default_currency, allowed_currencies, "
    "min_price_cents, max_price_cents, updated_at FROM platform_config WHERE id = 1"
)


async def test_the_previous_version_still_reads_its_money_rules_after_the_migration():
    """`linkmint migrate` runs while processes of the version before still serve, until
    each is restarted: their money rules must stay readable, whatever this version's
    operator does meanwhile."""
    rows = await PlatformConfig.raw(PREVIOUS_VERSIONS_READ)
    assert len(rows) == 1
    before = rows[0]
    assert "usd" in before["allowed_currencies"]
    assert 0 < before["min_price_cents"] <= before["max_price_cents"]

    await allow_jpy()
    await currencies.set_default("jpy")  # not among the old allowed_currencies: no CHECK
    after = (await PlatformConfig.raw(PREVIOUS_VERSIONS_READ))[0]
    assert after["default_currency"] == "jpy"
    assert {key: after[key] for key in after if key not in ("default_currency", "updated_at")} == {
        key: before[key] for key in before if key not in ("default_currency", "updated_at")
    }
