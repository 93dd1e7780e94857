"""Piccolo views of the platform API's tables (schema `whop_emulator`).

The schema itself is the raw-SQL migration `emulator_2026_11_26t23_20_00_000000`, which
holds the constraints; these classes register the tables with Piccolo (listing, tooling).
The emulator's queries are SQL through `app.emulator.store`, because most of them are the
conditional, locking kind that reads better as SQL.
"""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    BigSerial,
    Boolean,
    Integer,
    Numeric,
    Text,
    Timestamptz,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

S = "whop_emulator"


class Company(Table, tablename="company", schema=S):
    id = Text(primary_key=True)
    parent_id = Text(null=True)
    title = Text()
    email = Text(null=True)
    metadata = JSONB()
    kyc_status = Text(default="not_started")
    payout_account_id = Text(unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ApiKey(Table, tablename="api_key", schema=S):
    key_hash = Text(primary_key=True)
    company_id = Text()
    created_at = Timestamptz(default=TimestamptzNow())


class AccessToken(Table, tablename="access_token", schema=S):
    token_hash = Text(primary_key=True)
    company_id = Text()
    scoped_actions = JSONB()
    expires_at = Timestamptz()
    created_at = Timestamptz(default=TimestamptzNow())


class AccountLink(Table, tablename="account_link", schema=S):
    token = Text(primary_key=True)
    company_id = Text()
    use_case = Text()
    return_url = Text()
    refresh_url = Text()
    expires_at = Timestamptz()
    outcome = Text(null=True)
    finished_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class PayoutMethod(Table, tablename="payout_method", schema=S):
    id = Text(primary_key=True)
    company_id = Text()
    currency = Text()
    is_default = Boolean(default=False)
    nickname = Text(null=True)
    institution_name = Text(null=True)
    account_reference = Text(null=True)
    destination = JSONB(null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Plan(Table, tablename="plan", schema=S):
    id = Text(primary_key=True)
    company_id = Text()
    currency = Text()
    plan_type = Text()
    release_method = Text(default="buy_now")
    visibility = Text(default="visible")
    title = Text(null=True)
    initial_price = Numeric()
    renewal_price = Numeric()
    application_fee_amount = Numeric(null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class CheckoutConfiguration(Table, tablename="checkout_configuration", schema=S):
    id = Text(primary_key=True)
    company_id = Text()
    plan_id = Text()
    mode = Text(default="payment")
    metadata = JSONB()
    redirect_url = Text(null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Payment(Table, tablename="payment", schema=S):
    id = Text(primary_key=True)
    company_id = Text()
    plan_id = Text()
    checkout_configuration_id = Text(null=True)
    attempt_token = Text(null=True, unique=True)
    status = Text()
    substatus = Text()
    currency = Text()
    total = Numeric()
    application_fee = Numeric(null=True)
    refunded_amount = Numeric()
    tax_amount = Numeric()  # the part of `total` that is tax
    tax_refunded_amount = Numeric()  # the part of `refunded_amount` that was
    metadata = JSONB()
    user_id = Text()
    user_email = Text()
    card_brand = Text(null=True)
    card_last4 = Text(null=True)
    failure_message = Text(null=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    paid_at = Timestamptz(null=True, default=None)
    refunded_at = Timestamptz(null=True, default=None)


class Refund(Table, tablename="refund", schema=S):
    id = Text(primary_key=True)
    payment_id = Text()
    amount = Numeric()
    currency = Text()
    status = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Withdrawal(Table, tablename="withdrawal", schema=S):
    id = Text(primary_key=True)
    company_id = Text()
    payout_method_id = Text()
    amount = Numeric()
    currency = Text()
    status = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class LedgerEntry(Table, tablename="ledger_entry", schema=S):
    id = BigSerial(primary_key=True)
    company_id = Text()
    currency = Text()
    amount = Numeric()
    kind = Text()
    reference_id = Text()
    created_at = Timestamptz(default=TimestamptzNow())


class Webhook(Table, tablename="webhook", schema=S):
    id = Text(primary_key=True)
    resource_id = Text()
    url = Text()
    secret = Text(secret=True)
    events = JSONB()
    enabled = Boolean(default=True)
    api_version = Text(default="v1")
    child_resource_events = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())


class Event(Table, tablename="event", schema=S):
    id = Text(primary_key=True)
    type = Text()
    company_id = Text(null=True)
    body = Text()
    created_at = Timestamptz(default=TimestamptzNow())


class Delivery(Table, tablename="delivery", schema=S):
    id = BigSerial(primary_key=True)
    event_id = Text()
    webhook_id = Text(null=True)
    url = Text()
    secret = Text(secret=True)
    status = Text()
    attempts = Integer(default=0)
    drop_attempts = Integer(default=0)
    hold_fault_id = Integer(null=True)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    locked_until = Timestamptz(null=True, default=None)
    last_status = Integer(null=True)
    last_error = Text(null=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class DeliveryAttempt(Table, tablename="delivery_attempt", schema=S):
    id = BigSerial(primary_key=True)
    delivery_id = Integer()
    attempt = Integer()
    outcome = Text()
    status_code = Integer(null=True)
    error = Text(null=True)
    webhook_timestamp = Integer()
    duration_ms = Integer(default=0)
    at = Timestamptz(default=TimestamptzNow())


class IdempotencyKey(Table, tablename="idempotency_key", schema=S):
    owner = Text(primary_key=True)  # with `key`, the real primary key
    key = Text()
    method = Text()
    path = Text()
    fingerprint = Text()
    status = Integer(null=True)
    body = Text(null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Fault(Table, tablename="fault", schema=S):
    id = BigSerial(primary_key=True)
    kind = Text()
    params = JSONB()
    remaining = Integer()
    created_at = Timestamptz(default=TimestamptzNow())


class ControlSetting(Table, tablename="control_setting", schema=S):
    name = Text(primary_key=True)
    value = JSONB()


PLATFORM_TABLES = [
    Company,
    ApiKey,
    AccessToken,
    AccountLink,
    PayoutMethod,
    Plan,
    CheckoutConfiguration,
    Payment,
    Refund,
    Withdrawal,
    LedgerEntry,
    Webhook,
    Event,
    Delivery,
    DeliveryAttempt,
    IdempotencyKey,
    Fault,
    ControlSetting,
]
