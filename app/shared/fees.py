"""Prices and the platform's fee, from `platform_config` (never literals elsewhere).

Shared: the studio checks a price when a creator sets it, payments takes the fee when a
buyer pays it, and both must read the same rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.db.tables import PlatformConfig
from app.shared.money import format_money


@dataclass(frozen=True, slots=True)
class MoneyRules:
    fee_bps: int
    fee_min_cents: int
    default_currency: str
    allowed_currencies: tuple[str, ...]
    min_price_cents: int
    max_price_cents: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MoneyRules:
        """From the `platform_config` row (a Piccolo dict or an asyncpg Record)."""
        return cls(
            fee_bps=row["fee_bps"],
            fee_min_cents=row["fee_min_cents"],
            default_currency=row["default_currency"],
            allowed_currencies=tuple(row["allowed_currencies"]),
            min_price_cents=row["min_price_cents"],
            max_price_cents=row["max_price_cents"],
        )

    def fee_for(self, price_cents: int) -> int:
        """The platform's cut: basis points of the price, rounded half up, at least the
        minimum, and always strictly less than the price (Whop refuses a fee ≥ the total)."""
        proportional = (price_cents * self.fee_bps + 5_000) // 10_000
        return min(max(proportional, self.fee_min_cents), price_cents - 1)

    def check_price(self, price_cents: int, currency: str) -> None:
        """Raise PriceRefused with a sentence for the creator when the price is out of bounds."""
        if currency not in self.allowed_currencies:
            raise PriceRefused(f"Prices in {currency.upper()} are not accepted here.")
        if price_cents < self.min_price_cents:
            lowest = format_money(self.min_price_cents, currency)
            raise PriceRefused(f"The lowest price is {lowest}.")
        if price_cents > self.max_price_cents:
            highest = format_money(self.max_price_cents, currency)
            raise PriceRefused(f"The highest price is {highest}.")
        if self.fee_for(price_cents) >= price_cents:
            raise PriceRefused("That price would not cover the platform fee.")


class PriceRefused(ValueError):
    """A price the creator must change; `str(exc)` is shown beside the field."""


async def money_rules() -> MoneyRules:
    row = await PlatformConfig.select().where(PlatformConfig.id == 1).first()
    if row is None:
        raise RuntimeError("platform_config has no row; run `linkmint migrate`")
    return MoneyRules.from_row(row)
