"""Whop's money is major-unit numbers (`10.99` for $10.99); Linkmint's is integer minor units.

This module is the one place that converts between the two. Amounts go through `Decimal`
built from the float's shortest repr, so `0.1 + 0.2` from a JSON parser still means 30 cents,
and the number of decimals follows the currency (JPY has none, KWD has three).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 1/100 (the rest have two decimals).
_ZERO_DECIMAL = frozenset(
    "bif clp djf gnf isk jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
_THREE_DECIMAL = frozenset("bhd iqd jod kwd lyd omr tnd".split())

# Beyond 2**53 a float can no longer carry every minor unit exactly; no price gets near it.
MAX_MINOR = 10**15


_WHOP_CODE = re.compile(r"[a-z][a-z0-9_]{1,31}")


class UnsupportedCurrency(ValueError):
    """A currency code Linkmint does not sell in; the message names it."""


def normalize_currency(currency: str) -> str:
    """Whop's spelling of an ISO 4217 currency code: three lower-case letters. Whop's own
    codes that are not ISO (`whop_usd`, `usdt`) raise `UnsupportedCurrency`."""
    code = currency.strip().lower() if isinstance(currency, str) else ""
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise UnsupportedCurrency(f"not an ISO 4217 currency code: {currency!r}")
    return code


def whop_currency(currency: str) -> str:
    """A currency code as Whop may send it: an ISO code, or one of Whop's own (`whop_usd`,
    `usdt`). What Linkmint accepts is decided later, against the platform's rules, so that
    a payment in such a currency is refused with a reason rather than unreadable."""
    code = currency.strip().lower() if isinstance(currency, str) else ""
    if not _WHOP_CODE.fullmatch(code):
        raise ValueError(f"not a currency code: {currency!r}")
    return code


def currency_exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has (usd 2, jpy 0, kwd 3). Whop's own
    codes (`whop_usd`, `usdt`) are dollar amounts: two."""
    code = whop_currency(currency)
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def _decimal(amount: object) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, int | float | str | Decimal):
        raise ValueError(f"not an amount: {amount!r}")
    try:
        value = Decimal(repr(amount) if isinstance(amount, float) else str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    if value.adjusted() > 15:  # checked before scaling, which would overflow
        raise ValueError(f"amount out of range: {amount!r}")
    return value


def to_minor(amount: float | int | str | Decimal, currency: str) -> int:
    """Whop's major-unit amount as integer minor units (`10.99, "usd"` → 1099).

    More decimals than the currency has are rounded half-up (`10.005` usd → 1001).
    """
    exponent = currency_exponent(currency)
    value = _decimal(amount).scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    minor = int(value)
    if abs(minor) > MAX_MINOR:
        raise ValueError(f"amount out of range: {amount!r}")
    return minor


def to_major(minor: int, currency: str) -> float:
    """Integer minor units as the major-unit number Whop expects (1099, "usd" → 10.99).

    A float is what JSON carries; its shortest repr is exactly the decimal amount.
    """
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise ValueError(f"minor units must be an integer, got {minor!r}")
    if abs(minor) > MAX_MINOR:
        raise ValueError(f"amount out of range: {minor!r}")
    return float(Decimal(minor).scaleb(-currency_exponent(currency)))
