"""Prices and the platform's fee, from `platform_config` and `currency_rule` (never literals
elsewhere).

Shared: the studio checks a price when a creator sets it, payments takes the fee when a
buyer pays it, and both must read the same rules. The percentage fee is the platform's; the
bounds and the minimum fee belong to each currency, in its own minor units (¥100 is not
$1.00)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.db.records import Record
from app.db.tables import CurrencyRule as CurrencyRuleTable
from app.db.tables import PlatformConfig
from app.shared.money import format_money
from app.whop.money import currency_exponent

THREE_DECIMALS_UNCONFIRMED = (
    "{code} has three decimals, and whether Whop charges three-decimal currencies is not "
    "confirmed, so Linkmint does not sell in {code}."
)


class PriceRefused(ValueError):
    """A price the creator must change; `str(exc)` is shown beside the field."""


@dataclass(frozen=True, slots=True)
class CurrencyRule(Record):
    """One currency's row of `currency_rule`, in that currency's minor units."""

    currency: str
    allowed: bool
    min_price_minor: int
    max_price_minor: int
    fee_min_minor: int


@dataclass(frozen=True, slots=True)
class MoneyRules:
    fee_bps: int
    default_currency: str
    three_decimal_currencies: bool  # may KWD, BHD, … be allowed at all
    currencies: tuple[CurrencyRule, ...]  # every currency with a rule, allowed or not

    @classmethod
    def from_rows(
        cls, config: Mapping[str, Any], currencies: Iterable[Mapping[str, Any]]
    ) -> MoneyRules:
        """From the `platform_config` row and the `currency_rule` rows (Piccolo dicts or
        asyncpg Records)."""
        return cls(
            fee_bps=config["fee_bps"],
            default_currency=config["default_currency"],
            three_decimal_currencies=config["three_decimal_currencies"],
            currencies=tuple(map(CurrencyRule.from_row, currencies)),
        )

    @property
    def allowed_currencies(self) -> tuple[str, ...]:
        """What a creator may sell in now, sorted by code."""
        return tuple(sorted(rule.currency for rule in self.currencies if not self.refusal(rule)))

    def refusal(self, rule: CurrencyRule | None, currency: str = "") -> str | None:
        """Why prices in this currency are not accepted, or None when they are."""
        code = (rule.currency if rule else currency).upper()
        if rule is None or not rule.allowed:
            return f"Prices in {code} are not accepted here."
        if currency_exponent(rule.currency) == 3 and not self.three_decimal_currencies:
            return THREE_DECIMALS_UNCONFIRMED.format(code=code)
        return None

    def rule_for(self, currency: str) -> CurrencyRule:
        """The currency's rule if creators may sell in it; PriceRefused says why not."""
        rule = next((rule for rule in self.currencies if rule.currency == currency), None)
        reason = self.refusal(rule, currency)
        if reason is not None or rule is None:
            raise PriceRefused(reason)
        return rule

    def fee_for(self, price: int, currency: str) -> int:
        """The platform's cut: basis points of the price, rounded half up, at least the
        currency's minimum, and always strictly less than the price (Whop refuses a fee ≥ the
        total)."""
        proportional = (price * self.fee_bps + 5_000) // 10_000
        return min(max(proportional, self.rule_for(currency).fee_min_minor), price - 1)

    def check_price(self, price: int, currency: str) -> None:
        """Raise PriceRefused with a sentence for the creator when the price is out of bounds."""
        rule = self.rule_for(currency)
        if price < rule.min_price_minor:
            lowest = format_money(rule.min_price_minor, currency)
            raise PriceRefused(f"The lowest price is {lowest}.")
        if price > rule.max_price_minor:
            highest = format_money(rule.max_price_minor, currency)
            raise PriceRefused(f"The highest price is {highest}.")
        if self.fee_for(price, currency) >= price:
            raise PriceRefused("That price would not cover the platform fee.")


async def money_rules() -> MoneyRules:
    config = await PlatformConfig.select().where(PlatformConfig.id == 1).first()
    if config is None:
        raise RuntimeError("platform_config has no row; run `linkmint migrate`")
    return MoneyRules.from_rows(config, await CurrencyRuleTable.select())
