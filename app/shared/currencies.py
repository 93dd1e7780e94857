"""The operator's currency settings (`linkmint currencies`): which currencies creators may
sell in, and each one's lowest and highest price and minimum fee, in its own minor units.

A refused change changes nothing. A currency is allowed only with bounds; the default
currency cannot be disallowed; a currency with three decimals (KWD, BHD, …) cannot be
allowed while `platform_config.three_decimal_currencies` is off, because Whop's handling of
them is unconfirmed. Creators who already sell in a currency the operator disallows keep
their past sales; their premium links are not sold (the unlock checks the rules) until
they switch currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.db.tables import CurrencyRule as CurrencyRuleTable
from app.db.tables import PlatformConfig
from app.shared.fees import THREE_DECIMALS_UNCONFIRMED, CurrencyRule, MoneyRules, money_rules
from app.shared.money import format_money
from app.whop.money import UnsupportedCurrency, currency_exponent, normalize_currency


class CurrencyRefused(ValueError):
    """An operator's change that is refused; `str(exc)` says why and what to do."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """Minor units of one currency; None leaves the stored value as it is."""

    min_price: int | None = None
    max_price: int | None = None
    fee_min: int | None = None


def currency_code(raw: str) -> str:
    try:
        return normalize_currency(raw)
    except UnsupportedCurrency:
        message = f"{raw!r} is not an ISO 4217 currency code (like usd or jpy)."
        raise CurrencyRefused(message) from None


def describe(rules: MoneyRules) -> list[str]:
    """One line per currency with a rule, for `linkmint currencies list`."""
    lines = [
        f"fee {rules.fee_bps / 100:g}% · default {rules.default_currency.upper()} · "
        f"three-decimal currencies {'on' if rules.three_decimal_currencies else 'off'}"
    ]
    for rule in sorted(rules.currencies, key=lambda rule: rule.currency):
        code = rule.currency
        state = "allowed" if code in rules.allowed_currencies else "not allowed"
        if rule.allowed and state == "not allowed":
            state = "allowed, but refused (three decimals)"
        lines.append(
            f"{code.upper()}  {state:<12}  prices {format_money(rule.min_price_minor, code)} "
            f"to {format_money(rule.max_price_minor, code)}, "
            f"fee at least {format_money(rule.fee_min_minor, code)}"
        )
    return lines


async def _rule(currency: str) -> CurrencyRule | None:
    row = await CurrencyRuleTable.select().where(CurrencyRuleTable.currency == currency).first()
    return CurrencyRule.from_row(row) if row else None


def _checked(currency: str, current: CurrencyRule | None, bounds: Bounds) -> Bounds:
    """The bounds to store, complete and consistent, or CurrencyRefused naming the problem."""
    low, high, fee = bounds.min_price, bounds.max_price, bounds.fee_min
    if current is not None:
        low = current.min_price_minor if low is None else low
        high = current.max_price_minor if high is None else high
        fee = current.fee_min_minor if fee is None else fee
    code = currency.upper()
    if low is None or high is None or fee is None:
        raise CurrencyRefused(
            f"{code} has no price bounds yet: give --min, --max and --fee-min, in minor units "
            f"of {code} ({_minor_unit(currency)})."
        )
    if low <= 0:
        raise CurrencyRefused("--min must be more than zero.")
    if high < low:
        raise CurrencyRefused("--max must be at least --min.")
    if not 0 <= fee < low:
        raise CurrencyRefused("--fee-min must be at least zero and below --min.")
    return Bounds(low, high, fee)


def _minor_unit(currency: str) -> str:
    exponent = currency_exponent(currency)
    if exponent == 0:
        return f"whole {currency.upper()}: 100 is {format_money(100, currency)}"
    return f"1/{10**exponent}: {10**exponent} is {format_money(10**exponent, currency)}"


async def set_bounds(raw: str, bounds: Bounds, *, allow: bool | None = None) -> CurrencyRule:
    """Create or change a currency's rule; `allow` True/False also allows or disallows it."""
    currency = currency_code(raw)
    rules = await money_rules()
    current = await _rule(currency)
    if allow and currency_exponent(currency) == 3 and not rules.three_decimal_currencies:
        raise CurrencyRefused(
            THREE_DECIMALS_UNCONFIRMED.format(code=currency.upper())
            + " To allow such currencies anyway, run `linkmint currencies three-decimal on` first."
        )
    if allow is False and currency == rules.default_currency:
        raise CurrencyRefused(
            f"{currency.upper()} is the default currency; make another one the default first."
        )
    if allow is False and (current is None or not current.allowed):
        raise CurrencyRefused(f"{currency.upper()} is not allowed.")
    checked = _checked(currency, current, bounds)
    allowed = allow if allow is not None else bool(current and current.allowed)
    rows = await CurrencyRuleTable.raw(
        "INSERT INTO currency_rule (currency, allowed, min_price_minor, max_price_minor, "
        "fee_min_minor) VALUES ({}, {}, {}, {}, {}) ON CONFLICT (currency) DO UPDATE SET "
        "allowed = EXCLUDED.allowed, min_price_minor = EXCLUDED.min_price_minor, "
        "max_price_minor = EXCLUDED.max_price_minor, fee_min_minor = EXCLUDED.fee_min_minor, "
        "updated_at = now() RETURNING *",
        currency,
        allowed,
        checked.min_price,
        checked.max_price,
        checked.fee_min,
    )
    return CurrencyRule.from_row(rows[0])


async def set_default(raw: str) -> None:
    """The currency new creators start in; it must be allowed."""
    currency = currency_code(raw)
    rules = await money_rules()
    if currency not in rules.allowed_currencies:
        raise CurrencyRefused(f"Allow {currency.upper()} before making it the default.")
    await PlatformConfig.update(
        {PlatformConfig.default_currency: currency, PlatformConfig.updated_at: datetime.now(UTC)}
    ).where(PlatformConfig.id == 1)


async def set_three_decimal(on: bool) -> None:
    """Whether three-decimal currencies may be allowed. Turning it off leaves their rules
    in place but refuses their prices at once."""
    await PlatformConfig.update(
        {PlatformConfig.three_decimal_currencies: on, PlatformConfig.updated_at: datetime.now(UTC)}
    ).where(PlatformConfig.id == 1)
