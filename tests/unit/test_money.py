"""Whop's major-unit floats ⇄ Linkmint's integer minor units, currency by currency."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.whop import money
from app.whop.money import MAX_MINOR, currency_exponent, normalize_currency, to_major, to_minor


@pytest.mark.parametrize(
    "currency,exponent", [("usd", 2), ("EUR", 2), ("jpy", 0), ("krw", 0), ("kwd", 3), ("bhd", 3)]
)
def test_each_currency_has_its_own_number_of_decimals(currency, exponent):
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize(
    "amount,currency,minor",
    [
        (10.99, "usd", 1099),
        (10.0, "usd", 1000),
        (0.01, "usd", 1),
        (8.77, "usd", 877),
        (1.23, "usd", 123),
        (0.1 + 0.2, "usd", 30),  # 0.30000000000000004 from a JSON parser is still 30 cents
        (1.15, "usd", 115),  # the float is 1.149999…; its shortest repr is what Whop meant
        (19.99, "eur", 1999),
        (1500, "jpy", 1500),
        (1500.0, "jpy", 1500),
        (1.234, "kwd", 1234),
        ("10.99", "usd", 1099),
        (Decimal("10.99"), "usd", 1099),
        (10.005, "usd", 1001),  # more decimals than the currency has: half up
        (10.004, "usd", 1000),
        (0, "usd", 0),
    ],
)
def test_major_units_become_exact_minor_units(amount, currency, minor):
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize(
    "minor,currency,major,wire",
    [
        (1099, "usd", 10.99, "10.99"),
        (1000, "usd", 10.0, "10.0"),
        (1, "usd", 0.01, "0.01"),
        (1500, "jpy", 1500.0, "1500.0"),
        (1234, "kwd", 1.234, "1.234"),
    ],
)
def test_minor_units_become_the_number_whop_expects(minor, currency, major, wire):
    assert to_major(minor, currency) == major
    assert json.dumps(to_major(minor, currency)) == wire


@given(st.integers(min_value=0, max_value=MAX_MINOR), st.sampled_from(["usd", "jpy", "kwd"]))
def test_a_round_trip_through_json_never_moves_a_minor_unit(minor, currency):
    wire = json.loads(json.dumps({"amount": to_major(minor, currency)}))["amount"]
    assert to_minor(wire, currency) == minor


@pytest.mark.parametrize(
    "amount", [float("nan"), float("inf"), True, None, "ten", [], "1e999999999"]
)
def test_what_is_not_an_amount_is_refused(amount):
    with pytest.raises(ValueError):
        to_minor(amount, "usd")


@pytest.mark.parametrize("minor", [10.5, True, "100", MAX_MINOR + 1])
def test_only_whole_minor_units_in_range_go_to_whop(minor):
    with pytest.raises(ValueError):
        to_major(minor, "usd")


@pytest.mark.parametrize("code", ["us", "usdd", "12a", "", None, "€€€"])
def test_a_currency_code_is_three_letters(code):
    with pytest.raises(ValueError):
        normalize_currency(code)


def test_currency_codes_are_spelled_the_way_whop_spells_them():
    assert normalize_currency(" USD ") == "usd"


@given(
    minor=st.integers(-(10**12), 10**12),
    currency=st.sampled_from(sorted(money._ZERO_DECIMAL | money._THREE_DECIMAL | {"usd", "huf"})),
)
def test_amounts_are_shown_with_the_decimals_they_are_sent_to_whop_in(minor, currency):
    """One source of truth for a currency's decimals: what a page shows is what Whop gets."""
    from app.shared.money import format_money

    shown = format_money(minor, currency)
    number = "".join(ch for ch in shown if ch.isdigit() or ch in ".-")
    assert Decimal(number) == Decimal(repr(to_major(minor, currency)))
    assert len(number.partition(".")[2]) == currency_exponent(currency)
