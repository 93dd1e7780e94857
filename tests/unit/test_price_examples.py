"""A refused price says how to type one in the creator's own currency: "like 4.99" in
dollars, "like 500" in yen, "like 4.990" in a three-decimal currency."""

import pytest

from app.shared.money import format_money
from app.shared.rules import InvalidField, example_minor_units, example_price, parse_price


@pytest.mark.parametrize(
    ("currency", "example", "minor"),
    [("usd", "4.99", 499), ("eur", "4.99", 499), ("jpy", "500", 500), ("kwd", "4.990", 4990)],
)
def test_the_example_price_is_typed_in_the_currencys_own_decimals(currency, example, minor):
    assert example_price(currency) == example
    assert example_minor_units(currency) == minor
    # The example is itself a price the parser takes, worth the minor units said.
    assert parse_price(example, currency) == minor


@pytest.mark.parametrize("raw", ["", "abc", "1e3", "4.99.1", "NaN", "12,3,4"])
@pytest.mark.parametrize(
    ("currency", "like"), [("usd", "like 4.99."), ("jpy", "like 500."), ("kwd", "like 4.990.")]
)
def test_every_unreadable_price_is_answered_with_an_example_in_that_currency(raw, currency, like):
    with pytest.raises(InvalidField) as refused:
        parse_price(raw, currency)
    assert str(refused.value).endswith(like)


@pytest.mark.parametrize(
    ("raw", "currency", "message"),
    [
        ("4,99", "usd", "Use a point for the decimals, like 4.99."),
        ("4,5", "kwd", "Use a point for the decimals, like 4.990."),
        ("4.999", "usd", "Use at most 2 decimals, like 4.99."),
        ("4.9999", "kwd", "Use at most 3 decimals, like 4.990."),
        ("1500.5", "jpy", "Prices in JPY are whole numbers, like 500."),
    ],
)
def test_too_many_or_comma_decimals_are_explained_in_the_currencys_decimals(raw, currency, message):
    with pytest.raises(InvalidField, match=f"^{message}$".replace(".", r"\.")):
        parse_price(raw, currency)


def test_a_jpy_price_with_thousands_separators_still_parses():
    assert parse_price("¥1,500", "jpy") == 1500
    assert format_money(example_minor_units("jpy"), "jpy") == "¥500"
