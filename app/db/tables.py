"""Linkmint's tables. Money is integer minor units plus an ISO currency, everywhere."""

from __future__ import annotations

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.constraints import Check, Unique
from piccolo.table import Table

LINK_KINDS = ("link", "header", "premium")


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
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class AuthSession(Table, tablename="auth_session"):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    token_hash = Varchar(length=64, primary_key=True)
    creator = ForeignKey(references=Creator, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
