"""Amounts as people read them. Money is integer minor units plus an ISO currency; this
turns such an amount into text for a page, and nothing turns text back into an amount here
(prices typed by a creator are parsed by `app.shared.rules.parse_price`).

How many decimals a currency has is `app.whop.money.currency_exponent`'s answer, the same
one that converts amounts for Whop, so a price is shown with exactly the digits it is
charged in: ¥1,500, $4.99, 1.250 KWD."""

from __future__ import annotations

from app.whop.money import currency_exponent

# Symbols people read without a code beside them; every other currency is shown by its code.
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}


def format_money(minor: int, currency: str) -> str:
    """`$4.99`, `€10.00`, `¥1,200`, `1.250 KWD`, `2.50 CHF`: for display only; amounts are
    stored as integers."""
    exponent = currency_exponent(currency)
    whole, fraction = divmod(abs(minor), 10**exponent)
    amount = f"{whole:,}.{fraction:0{exponent}d}" if exponent else f"{whole:,}"
    sign = "-" if minor < 0 else ""
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency.upper()}"


def currency_name(currency: str) -> str:
    """How a currency is named in a list: `JPY (¥)`, `CHF`."""
    symbol = SYMBOLS.get(currency)
    return f"{currency.upper()} ({symbol})" if symbol else currency.upper()
