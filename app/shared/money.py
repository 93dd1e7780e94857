"""Amounts as people read them. Money is integer minor units plus an ISO currency; this
turns such an amount into text for a page, and nothing turns text back into an amount here
(prices typed by a creator are parsed by `app.shared.rules.parse_price`)."""

from __future__ import annotations

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}
_ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "isk", "huf"}


def format_money(cents: int, currency: str) -> str:
    """`$4.99`, `€10.00`, `1,200 JPY`: for display only; amounts are stored as integers."""
    if currency in _ZERO_DECIMAL:
        return f"{cents:,} {currency.upper()}"
    major, minor = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    symbol = _SYMBOLS.get(currency)
    amount = f"{major:,}.{minor:02d}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency.upper()}"
