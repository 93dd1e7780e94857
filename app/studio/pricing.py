"""Premium links in the studio: who may price a link, within which bounds, and what the
creator keeps, in the creator's currency. The numbers come from `platform_config` and
`currency_rule` (`money_rules()`), never literals."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from app.auth.service import CreatorRecord
from app.shared.fees import MoneyRules, PriceRefused
from app.shared.money import currency_name, format_money
from app.shared.rules import InvalidField, example_price, parse_price
from app.studio.forms import Form

if TYPE_CHECKING:
    from app.studio.service import StudioLink  # which imports this module

LOCKED = "Enable earnings before you price a link: Whop must be able to pay you first."


@dataclass(frozen=True, slots=True)
class Pricing:
    """What the link forms show about prices for one creator."""

    enabled: bool  # payouts are on, so the creator may price links
    currency: str
    fee_label: str  # "10% (at least $0.50)"
    range_label: str  # "$1.00 to $1,000.00"
    rules: MoneyRules
    refused: str | None = None  # why the creator's currency cannot be priced in now

    @property
    def currency_choices(self) -> list[tuple[str, str]]:
        """(code, name) of each currency the creator may pick: the allowed ones, and theirs
        even when it no longer is (so the select shows what they sell in)."""
        codes = self.rules.allowed_currencies
        choices = [(code, currency_name(code)) for code in codes]
        if self.currency not in codes:
            choices.insert(0, (self.currency, f"{currency_name(self.currency)}, not accepted now"))
        return choices

    @property
    def placeholder(self) -> str:
        """An example price as it would be typed in this currency: 4.99, 500, 4.990."""
        return example_price(self.currency)

    @property
    def currency_code(self) -> str:
        return self.currency.upper()

    def preview(self, price_cents: int) -> str:
        return fee_preview(self.rules, price_cents, self.currency)


def pricing_for(creator: CreatorRecord, rules: MoneyRules) -> Pricing:
    currency = creator.currency
    percent = (Decimal(rules.fee_bps) / 100).normalize()
    fee_label = f"{percent:f}%"
    try:
        rule = rules.rule_for(currency)
    except PriceRefused as exc:  # the operator stopped accepting it: say so where prices are
        return Pricing(
            enabled=creator.payout_enabled,
            currency=currency,
            fee_label=fee_label,
            range_label="",
            rules=rules,
            refused=str(exc),
        )
    if rule.fee_min_minor:
        fee_label += f" (at least {format_money(rule.fee_min_minor, currency)})"
    low = format_money(rule.min_price_minor, currency)
    high = format_money(rule.max_price_minor, currency)
    return Pricing(
        enabled=creator.payout_enabled,
        currency=currency,
        fee_label=fee_label,
        range_label=f"{low} to {high}",
        rules=rules,
    )


def fee_preview(rules: MoneyRules, price_cents: int, currency: str) -> str:
    fee = rules.fee_for(price_cents, currency)
    keep, cut = format_money(price_cents - fee, currency), format_money(fee, currency)
    return f"You receive {keep} after the {cut} platform fee."


def preview_for_input(raw: str, currency: str, rules: MoneyRules) -> tuple[str | None, str | None]:
    """(preview, error) for a price as typed; both None while the field is empty."""
    if not raw.strip():
        return None, None
    try:
        cents = parse_price(raw, currency)
        rules.check_price(cents, currency)
    except (InvalidField, PriceRefused) as exc:
        return None, str(exc)
    return fee_preview(rules, cents, currency), None


def check_premium(
    form: Form,
    creator: CreatorRecord,
    rules: MoneyRules,
    *,
    current: StudioLink | None = None,
) -> None:
    """Refuse a premium price the creator may not set (payouts off, or out of bounds),
    as an error beside the price field. Keeping an existing premium link's price unchanged
    is always allowed, so a title can be fixed while payouts are being re-verified."""
    if form.values.get("kind") != "premium":
        return
    if current and current.kind == "premium" and current.price_cents == form.price_cents:
        return
    if not creator.payout_enabled:
        form.errors["price"] = LOCKED
        return
    if form.price_cents is None:  # the price did not parse; its error is already there
        return
    try:
        rules.check_price(form.price_cents, creator.currency)
    except PriceRefused as exc:
        form.errors["price"] = str(exc)
