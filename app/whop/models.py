"""Typed views of the Whop objects Linkmint reads (legacy `company_id` shapes,
docs/whop-contract.md).

Each `from_json` takes Whop's JSON and keeps only what the app uses; money arrives here
as major-unit floats and leaves as integer minor units. A missing or malformed field raises
`ValueError`, which the client turns into `WhopBadResponse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.whop.money import to_minor, whop_currency


def _obj(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not an object")
    return value


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"field {key!r} is missing or not a string")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} is not a string")
    return value


def _time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"field {key!r} is not a timestamp: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"field {key!r} is not a timestamp")


def _required_time(data: Mapping[str, Any], key: str) -> datetime:
    value = _time(data, key)
    if value is None:
        raise ValueError(f"field {key!r} is missing")
    return value


def _metadata(data: Mapping[str, Any]) -> dict[str, Any]:
    value = data.get("metadata")
    if value is None:
        return {}
    return dict(_obj(value, "metadata"))


def _money(data: Mapping[str, Any], key: str, currency: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    return to_minor(value, currency)


def _nested_id(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    return _opt_str(_obj(value, key), "id")


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    title: str
    metadata: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Company:
        return cls(id=_str(data, "id"), title=data.get("title") or "", metadata=_metadata(data))


@dataclass(frozen=True, slots=True)
class AccountLink:
    url: str
    expires_at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccountLink:
        return cls(url=_str(data, "url"), expires_at=_required_time(data, "expires_at"))


@dataclass(frozen=True, slots=True)
class PayoutDestination:
    category: str | None
    country_code: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class PayoutMethod:
    id: str
    company_id: str | None
    currency: str | None
    is_default: bool
    nickname: str | None
    institution_name: str | None
    destination: PayoutDestination | None

    @property
    def can_receive_payouts(self) -> bool:
        """Whop's own tutorials treat a method with a destination as payout-ready."""
        return self.destination is not None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PayoutMethod:
        dest = data.get("destination")
        destination = None
        if dest is not None:
            dest = _obj(dest, "destination")
            destination = PayoutDestination(
                category=_opt_str(dest, "category"),
                country_code=_opt_str(dest, "country_code"),
                name=_opt_str(dest, "name"),
            )
        return cls(
            id=_str(data, "id"),
            company_id=_nested_id(data, "company"),
            currency=_opt_str(data, "currency"),
            is_default=bool(data.get("is_default")),
            nickname=_opt_str(data, "nickname"),
            institution_name=_opt_str(data, "institution_name"),
            destination=destination,
        )


@dataclass(frozen=True, slots=True)
class CheckoutConfiguration:
    id: str
    company_id: str | None
    plan_id: str
    purchase_url: str
    redirect_url: str | None
    currency: str
    price: int  # minor units
    metadata: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckoutConfiguration:
        plan = _obj(data.get("plan"), "plan")
        currency = whop_currency(_str(plan, "currency"))
        price = _money(plan, "initial_price", currency)
        if price is None:
            raise ValueError("field 'initial_price' is missing")
        return cls(
            id=_str(data, "id"),
            company_id=_opt_str(data, "company_id"),
            plan_id=_str(plan, "id"),
            purchase_url=_str(data, "purchase_url"),
            redirect_url=_opt_str(data, "redirect_url"),
            currency=currency,
            price=price,
            metadata=_metadata(data),
        )


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    status: str  # draft, open, paid, pending, uncollectible, unresolved, void
    substatus: str | None  # succeeded, failed, refunded, partially_refunded, ...
    company_id: str | None
    currency: str
    total: int  # minor units, like every amount below
    subtotal: int | None
    amount_after_fees: int | None
    tax_amount: int
    refunded_amount: int
    tax_refunded_amount: int
    application_fee: int | None
    metadata: dict[str, Any]
    checkout_configuration_id: str | None
    plan_id: str | None
    user_id: str | None
    user_email: str | None
    failure_message: str | None
    refundable: bool
    created_at: datetime
    updated_at: datetime | None
    paid_at: datetime | None
    refunded_at: datetime | None

    @property
    def is_paid(self) -> bool:
        return self.status == "paid"

    @property
    def price_paid(self) -> int:
        """What the buyer paid before tax (Whop, the merchant of record, may add tax)."""
        return self.subtotal if self.subtotal is not None else self.total - self.tax_amount

    @property
    def price_refunded(self) -> int:
        """What was refunded of `price_paid` (a refund's tax part is not the creator's)."""
        return max(0, min(self.price_paid, self.refunded_amount - self.tax_refunded_amount))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Payment:
        currency = whop_currency(_str(data, "currency"))
        total = _money(data, "total", currency)
        if total is None:
            raise ValueError("field 'total' is missing")
        fee = data.get("application_fee")
        user = data.get("user")
        user = _obj(user, "user") if user is not None else {}
        return cls(
            id=_str(data, "id"),
            status=_str(data, "status"),
            substatus=_opt_str(data, "substatus"),
            company_id=_nested_id(data, "company"),
            currency=currency,
            total=total,
            subtotal=_money(data, "subtotal", currency),
            amount_after_fees=_money(data, "amount_after_fees", currency),
            tax_amount=_money(data, "tax_amount", currency) or 0,
            refunded_amount=_money(data, "refunded_amount", currency) or 0,
            tax_refunded_amount=_money(data, "tax_refunded_amount", currency) or 0,
            application_fee=(
                _money(_obj(fee, "application_fee"), "amount", currency) if fee else None
            ),
            metadata=_metadata(data),
            checkout_configuration_id=_opt_str(data, "checkout_configuration_id"),
            plan_id=_nested_id(data, "plan"),
            user_id=_opt_str(user, "id"),
            user_email=_opt_str(user, "email"),
            failure_message=_opt_str(data, "failure_message"),
            refundable=bool(data.get("refundable")),
            created_at=_required_time(data, "created_at"),
            updated_at=_time(data, "updated_at"),
            paid_at=_time(data, "paid_at"),
            refunded_at=_time(data, "refunded_at"),
        )


@dataclass(frozen=True, slots=True)
class PaymentPage:
    """One page of a payments list: what could be read, and where the next page starts."""

    payments: tuple[Payment, ...]
    next_cursor: str | None  # None on the last page
    skipped: int = 0  # listed records without a field the app needs (logged, left out)


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str = field(repr=False)
    expires_at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccessToken:
        return cls(token=_str(data, "token"), expires_at=_required_time(data, "expires_at"))


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    enabled: bool
    events: tuple[str, ...]
    resource_id: str | None
    child_resource_events: bool
    # Whop shows the signing secret on the create response only.
    secret: str | None = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Webhook:
        events = data.get("events") or []
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ValueError("field 'events' is not a list of names")
        return cls(
            id=_str(data, "id"),
            url=_str(data, "url"),
            enabled=bool(data.get("enabled", True)),
            events=tuple(events),
            resource_id=_opt_str(data, "resource_id"),
            child_resource_events=bool(data.get("child_resource_events")),
            secret=_opt_str(data, "webhook_secret"),
        )
