"""Linkmint's tables. Money is integer minor units plus an ISO currency, everywhere."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    BigSerial,
    Boolean,
    Bytea,
    Date,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.constraints import Unique
from piccolo.table import Table

LINK_KINDS = ("link", "header", "premium")
SERIAL_MAX = 2**31 - 1  # a `Serial` id is a PostgreSQL integer


def is_serial_id(value: int) -> bool:
    """Whether any row could have this id: a larger one is as missing as a deleted one, and
    must not reach a query (PostgreSQL would refuse the parameter, not find no row)."""
    return 0 < value <= SERIAL_MAX


class Creator(Table):
    id = Serial(primary_key=True)
    whop_user_id = Varchar(length=64)
    handle = Varchar(length=30, null=True, default=None)
    email = Varchar(length=320, null=True, default=None)
    display_name = Varchar(length=60, default="")
    bio = Varchar(length=280, default="")
    avatar_url = Varchar(length=500, default="")
    theme = Varchar(length=20, default="mint")
    accent_color = Varchar(length=7, default="#0f9d76")
    whop_company_id = Varchar(length=64, null=True, default=None)
    payout_enabled = Boolean(default=False)
    currency = Varchar(length=3, default="usd")
    avatar_image = Varchar(length=32, null=True, default=None)  # the `Image` shown, if any
    sensitive = Boolean(default=False)  # 18+: the page is behind an interstitial
    time_zone = Varchar(length=64, default="UTC")  # IANA name: link schedules are entered in it
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())

    creator_whop_user_unique = Unique(["whop_user_id"])
    creator_handle_unique = Unique(["handle"])
    creator_company_unique = Unique(["whop_company_id"])


class Link(Table):
    id = Serial(primary_key=True)
    creator = ForeignKey(references=Creator, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=10, default="link")
    title = Varchar(length=100)
    url = Varchar(length=2048, default="")
    position = Integer(default=0)
    enabled = Boolean(default=True)
    starts_at = Timestamptz(null=True, default=None)
    ends_at = Timestamptz(null=True, default=None)
    price_cents = Integer(null=True, default=None)
    sensitive = Boolean(default=False)  # 18+: shown through a warning, never its URL
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class AuthSession(Table, tablename="auth_session"):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    token_hash = Varchar(length=64, primary_key=True)
    creator = ForeignKey(references=Creator, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    # When the session was last seen, for the idle timeout; written at most every few
    # minutes, by app/auth/sessions.py.
    last_used_at = Timestamptz(default=TimestamptzNow())


class PendingSignIn(Table, tablename="pending_sign_in"):
    """A sign-in started at /auth/login and not yet finished: the SHA-256 of its state, so
    that its callback is accepted once (app/auth/pending.py)."""

    state_hash = Varchar(length=64, primary_key=True)
    expires_at = Timestamptz()


UNLOCK_STATUSES = ("PENDING", "COMPLETED", "REFUNDED", "FAILED", "EXPIRED")
CONVERGENCE_PATHS = ("redirect", "webhook", "reconcile")


class Unlock(Table):
    """One buyer's purchase of one premium link. States only move forward:
    PENDING → COMPLETED → REFUNDED, or PENDING → FAILED / EXPIRED (a verified payment still
    completes a FAILED or EXPIRED one: see app.payments.convergence)."""

    id = Varchar(length=32, primary_key=True)  # random and unguessable; it appears in URLs
    link = ForeignKey(references=Link, on_delete=OnDelete.set_null, null=True, index=True)
    creator = ForeignKey(references=Creator, on_delete=OnDelete.restrict, index=True)
    link_title = Varchar(length=100)  # what was bought, kept if the link is deleted later
    buyer_token_hash = Varchar(length=64, index=True)  # SHA-256 of the buyer cookie's token
    buyer_whop_user_id = Varchar(length=64, null=True, default=None, index=True)
    buyer_email = Varchar(length=320, null=True, default=None)
    status = Varchar(length=10, default="PENDING")
    price_cents = Integer()
    fee_cents = Integer()
    currency = Varchar(length=3)
    checkout_id = Varchar(length=64, null=True, default=None)
    # The checkout's plan: a payment completes the unlock only from this checkout and plan.
    # NULL for checkouts made before it was kept (learnt from Whop when a payment comes).
    plan_id = Varchar(length=64, null=True, default=None)
    purchase_url = Varchar(length=2048, null=True, default=None)
    provider_payment_id = Varchar(length=64, null=True, default=None)
    completed_via = Varchar(length=10, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    completed_at = Timestamptz(null=True, default=None)
    refunded_at = Timestamptz(null=True, default=None)
    # What Whop refunded of the payment: the price once REFUNDED, a part of it while a
    # partially refunded unlock stays COMPLETED (the buyer keeps the link).
    refunded_cents = Integer(default=0)

    unlock_payment_unique = Unique(["provider_payment_id"])
    unlock_checkout_unique = Unique(["checkout_id"])
    # (Partial unique indexes, in migrations: one PENDING and one COMPLETED unlock per buyer
    # and link.)


class WebhookEvent(Table, tablename="webhook_event"):
    """The durable inbox: one row per Whop event, keyed by the `webhook-id` header."""

    id = Varchar(length=255, primary_key=True)
    type = Varchar(length=100)
    payload = JSONB()
    received_at = Timestamptz(default=TimestamptzNow())
    processed_at = Timestamptz(null=True, default=None)
    attempts = Integer(default=0)
    last_error = Text(null=True, default=None)


class PlatformConfig(Table, tablename="platform_config"):
    """The operator's money settings: one row (id = 1). Never hard-coded elsewhere."""

    id = Integer(primary_key=True, default=1)
    fee_bps = Integer(default=1000)  # the platform's cut in basis points of the price
    default_currency = Varchar(length=3, default="usd")
    # Whether currencies with three decimals (KWD, BHD, …) may be allowed at all: off while
    # Whop's handling of them is unconfirmed.
    three_decimal_currencies = Boolean(default=False)
    updated_at = Timestamptz(default=TimestamptzNow())


class CurrencyRule(Table, tablename="currency_rule"):
    """Per currency, in its own minor units: whether creators may sell in it, the lowest and
    highest price, and the least the platform's fee may be. Set by `linkmint currencies`."""

    currency = Varchar(length=3, primary_key=True)
    allowed = Boolean(default=False)
    min_price_minor = Integer()
    max_price_minor = Integer()
    fee_min_minor = Integer(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())


class DuplicatePayment(Table, tablename="duplicate_payment"):
    """A second paid payment for an unlock that another payment already paid (two tabs, two
    checkouts): refunded through Whop so that nobody pays twice for one link. One row per
    payment; `refunded_at` stays empty until Whop has taken the refund, so it is retried."""

    payment_id = Varchar(length=64, primary_key=True)
    unlock = ForeignKey(references=Unlock, on_delete=OnDelete.cascade, null=False, index=True)
    amount_cents = Integer()
    currency = Varchar(length=3)
    detected_via = Varchar(length=10)  # redirect | webhook | reconcile
    created_at = Timestamptz(default=TimestamptzNow())
    refunded_at = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)


class WhopSweep(Table, tablename="whop_sweep"):
    """How far the reconciler has read one connected company's payments at Whop, by their
    `updated_at`: everything changed before `swept_to` has been matched to our unlocks. A
    pass that ran out of budget keeps its window and Whop's cursor to go on from there."""

    company_id = Varchar(length=64, primary_key=True)
    swept_to = Timestamptz(null=True, default=None)
    window_from = Timestamptz(null=True, default=None)
    window_to = Timestamptz(null=True, default=None)
    cursor = Text(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class MoneyAudit(Table, tablename="money_audit"):
    """One audit: per creator and currency, our completed and refunded totals beside Whop's
    for the payments made in [period_from, period_to), and every payment that differs."""

    id = Serial(primary_key=True)
    ran_at = Timestamptz(default=TimestamptzNow())
    period_from = Timestamptz()
    period_to = Timestamptz()
    scheduled = Boolean(default=False)  # run by the daily task, not by an operator
    whop_calls = Integer()
    totals = JSONB()
    differences = JSONB()


class ReconcileClock(Table, tablename="reconcile_clock"):
    """One row: when the last sweep of Whop's records began, whichever process ran it. The
    next sweep may make as many calls as the time since allows (app/payments/reconcile.py)."""

    id = Integer(primary_key=True, default=1)
    swept_at = Timestamptz(null=True, default=None)


class CreatorSocial(Table, tablename="creator_social"):
    """A profile elsewhere (Instagram, Mastodon, email, …) shown as an icon on the page:
    one per network and creator, its canonical `url` built by `app.shared.socials`."""

    id = Serial(primary_key=True)
    creator = ForeignKey(references=Creator, on_delete=OnDelete.cascade)
    network = Varchar(length=20)
    url = Varchar(length=2048)
    label = Varchar(length=200, default="")
    position = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())

    creator_social_network_unique = Unique(["creator", "network"])


class Image(Table):
    """An uploaded avatar, re-encoded as WebP at 96 and 256 px. The id is a content hash
    (the URL it is served at never changes meaning); rows are never updated. The creator's
    `avatar_image` names the one shown; triggers delete the others (the migration of
    2026-12-03T16:10)."""

    id = Varchar(length=32, primary_key=True)
    creator = ForeignKey(references=Creator, on_delete=OnDelete.cascade, index=True)
    small = Bytea()
    large = Bytea()
    created_at = Timestamptz(default=TimestamptzNow())


INSIGHT_METRICS = ("view", "click", "referrer", "browser", "device", "country")


class InsightDay(Table, tablename="insight_day"):
    """Counts of one creator's page per UTC day: `view` (dimension ""), `click` (the link's
    id), and the views by `referrer` domain, `browser` family, `device` class and `country`.
    Added to by every process's flush (app/insights/flush.py); nothing personal is stored."""

    id = BigSerial(primary_key=True)
    creator = ForeignKey(references=Creator, on_delete=OnDelete.cascade, index=False)
    day = Date()
    metric = Varchar(length=16)
    dimension = Varchar(length=255, default="")
    hits = BigInt(default=0)

    insight_day_key = Unique(["creator", "day", "metric", "dimension"])


class InsightMonth(Table, tablename="insight_month"):
    """`InsightDay`'s counts per UTC month (`month` is its first day), for the days older
    than the Insights page shows: folded from the daily rows by app/insights/retention.py."""

    id = BigSerial(primary_key=True)
    creator = ForeignKey(references=Creator, on_delete=OnDelete.cascade, index=False)
    month = Date()
    metric = Varchar(length=16)
    dimension = Varchar(length=255, default="")
    hits = BigInt(default=0)

    insight_month_key = Unique(["creator", "month", "metric", "dimension"])


class InsightFlush(Table, tablename="insight_flush"):
    """A flush of Insights' counts that committed, by the token it made up
    (app/insights/flush.py): how a flush whose answer was lost is told apart from one that
    never committed. Pruned after a day."""

    token = UUID(primary_key=True)
    flushed_at = Timestamptz(default=TimestamptzNow())
