"""The platform fee: proportional, at least the minimum, always less than the price."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.shared.fees import MoneyRules, PriceRefused
from app.shared.money import format_money

RULES = MoneyRules(
    fee_bps=1000,
    fee_min_cents=50,
    default_currency="usd",
    allowed_currencies=("usd", "eur"),
    min_price_cents=100,
    max_price_cents=100_000,
)


@pytest.mark.parametrize(
    "price,fee",
    [(100, 50), (499, 50), (500, 50), (505, 51), (1000, 100), (999, 100), (100_000, 10_000)],
)
def test_fee_is_ten_percent_rounded_half_up_with_a_minimum(price, fee):
    assert RULES.fee_for(price) == fee


@given(price=st.integers(2, 10**9), bps=st.integers(0, 9999), minimum=st.integers(0, 10**6))
def test_fee_is_never_negative_and_always_less_than_the_price(price, bps, minimum):
    rules = replace(RULES, fee_bps=bps, fee_min_cents=minimum)
    fee = rules.fee_for(price)
    assert 0 <= fee < price


@pytest.mark.parametrize(
    "price,currency,message",
    [
        (99, "usd", "lowest price is $1.00"),
        (100_001, "usd", "highest price is $1,000.00"),
        (500, "gbp", "GBP are not accepted"),
    ],
)
def test_out_of_bounds_prices_are_refused_with_a_reason(price, currency, message):
    with pytest.raises(PriceRefused, match=re.escape(message)):
        RULES.check_price(price, currency)


def test_money_is_formatted_for_people():
    assert format_money(499, "usd") == "$4.99"
    assert format_money(123456, "eur") == "€1,234.56"
    assert format_money(1200, "jpy") == "1,200 JPY"
    assert format_money(250, "chf") == "2.50 CHF"


@pytest.mark.parametrize("currency", ["whop_usd", "usdt"])
def test_whops_own_currencies_are_refused_for_prices_with_a_reason(currency):
    from app.studio.pricing import preview_for_input

    message = f"Prices in {currency.upper()} are not accepted here."
    with pytest.raises(PriceRefused, match=re.escape(message)):
        RULES.check_price(500, currency)
    # What the studio shows while the creator types: a sentence, not an exception.
    assert preview_for_input("5.00", currency, RULES) == (None, message)
