"""The platform fee: proportional, at least the minimum, always less than the price."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.shared.fees import CurrencyRule, MoneyRules, PriceRefused
from app.shared.money import format_money
from app.whop.money import currency_exponent


def rule(currency: str, low: int = 100, high: int = 100_000, fee_min: int = 50, allowed=True):
    return CurrencyRule(currency, allowed, low, high, fee_min)


RULES = MoneyRules(
    fee_bps=1000,
    default_currency="usd",
    three_decimal_currencies=False,
    currencies=(
        rule("usd"),
        rule("eur"),
        rule("gbp", allowed=False),
        rule("jpy", 100, 150_000, 75),
        rule("kwd", 500, 100_000, 100),
    ),
)


@pytest.mark.parametrize(
    "price,fee",
    [(100, 50), (499, 50), (500, 50), (505, 51), (1000, 100), (999, 100), (100_000, 10_000)],
)
def test_fee_is_ten_percent_rounded_half_up_with_a_minimum(price, fee):
    assert RULES.fee_for(price, "usd") == fee


@given(price=st.integers(2, 10**9), bps=st.integers(0, 9999), minimum=st.integers(0, 10**6))
def test_fee_is_never_negative_and_always_less_than_the_price(price, bps, minimum):
    rules = replace(RULES, fee_bps=bps, currencies=(rule("usd", fee_min=minimum),))
    fee = rules.fee_for(price, "usd")
    assert 0 <= fee < price


@pytest.mark.parametrize("price,fee", [(100, 75), (750, 75), (1500, 150), (1505, 151)])
def test_each_currency_has_its_own_minimum_fee_in_its_own_minor_units(price, fee):
    assert RULES.fee_for(price, "jpy") == fee


@pytest.mark.parametrize(
    "price,currency,message",
    [
        (99, "usd", "lowest price is $1.00"),
        (100_001, "usd", "highest price is $1,000.00"),
        (500, "gbp", "GBP are not accepted"),
        (500, "chf", "CHF are not accepted"),
        (99, "jpy", "lowest price is ¥100"),
        (150_001, "jpy", "highest price is ¥150,000"),
        (1000, "kwd", "KWD has three decimals, and whether Whop charges three-decimal"),
    ],
)
def test_out_of_bounds_prices_are_refused_with_a_reason(price, currency, message):
    with pytest.raises(PriceRefused, match=re.escape(message)):
        RULES.check_price(price, currency)


def test_bounds_are_each_currencys_own():
    RULES.check_price(100, "jpy")  # ¥100 is allowed though $1.00 is the usd floor
    RULES.check_price(150_000, "jpy")  # and ¥150,000 above usd's 100,000 minor units
    with pytest.raises(PriceRefused):
        RULES.check_price(100_001, "usd")


def test_three_decimal_currencies_are_sold_only_once_the_operator_turns_them_on():
    assert RULES.allowed_currencies == ("eur", "jpy", "usd")
    rules = replace(RULES, three_decimal_currencies=True)
    assert rules.allowed_currencies == ("eur", "jpy", "kwd", "usd")
    rules.check_price(1250, "kwd")
    assert rules.fee_for(1250, "kwd") == 125


def test_money_is_formatted_for_people():
    assert format_money(499, "usd") == "$4.99"
    assert format_money(123456, "eur") == "€1,234.56"
    assert format_money(1200, "jpy") == "¥1,200"
    assert format_money(1250, "kwd") == "1.250 KWD"
    assert format_money(250, "chf") == "2.50 CHF"
    assert format_money(-1500, "jpy") == "-¥1,500"
    assert format_money(5, "usd") == "$0.05"


@pytest.mark.parametrize(
    "minor,currency", [(1500, "jpy"), (1, "krw"), (1250, "kwd"), (1, "bhd"), (1099, "usd")]
)
def test_shown_amounts_have_exactly_the_decimals_whop_charges_in(minor, currency):
    """One source of truth: the digits shown are the digits sent to Whop."""
    from app.whop.money import to_major

    shown = format_money(minor, currency).replace(",", "")
    digits = "".join(ch for ch in shown if ch.isdigit() or ch == ".")
    assert Decimal(digits) == Decimal(repr(to_major(minor, currency)))
    assert len(digits.partition(".")[2]) == currency_exponent(currency)


@pytest.mark.parametrize("currency", ["whop_usd", "usdt"])
def test_whops_own_currencies_are_refused_for_prices_with_a_reason(currency):
    from app.studio.pricing import preview_for_input

    message = f"Prices in {currency.upper()} are not accepted here."
    with pytest.raises(PriceRefused, match=re.escape(message)):
        RULES.check_price(500, currency)
    # What the studio shows while the creator types: a sentence, not an exception.
    assert preview_for_input("5.00", currency, RULES) == (None, message)
