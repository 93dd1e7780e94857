"""Who a Whop user is in Linkmint: the creator row, created or refreshed at each sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.db.records import Record
from app.db.tables import Creator
from app.shared.rules import DISPLAY_NAME_MAX, InvalidField, clean_avatar_url

EMAIL_MAX = 320


@dataclass(frozen=True, slots=True)
class CreatorRecord(Record):
    """A creator's row: who is signed in (`CreatorDep`), and what the studio edits."""

    id: int
    whop_user_id: str
    handle: str | None
    email: str | None
    display_name: str
    bio: str
    avatar_url: str
    theme: str
    accent_color: str
    whop_company_id: str | None
    payout_enabled: bool
    currency: str
    created_at: datetime
    updated_at: datetime
    avatar_image: str | None  # an uploaded avatar (`image.id`), shown instead of avatar_url
    time_zone: str  # IANA name: the studio enters and shows link schedules in it
    sensitive: bool  # 18+: the public page is behind an interstitial


async def creator_by_id(creator_id: int) -> CreatorRecord | None:
    """The creator's row as it is now."""
    row = await Creator.select().where(Creator.id == creator_id).first()
    return CreatorRecord.from_row(row) if row else None


def _display_name(name: str | None, username: str | None) -> str:
    text = " ".join((name or username or "").split())
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:DISPLAY_NAME_MAX].rstrip()


def _avatar(picture: str | None) -> str:
    try:
        return clean_avatar_url(picture or "")
    except InvalidField:
        return ""  # Whop's picture is only a starting point; a bad one is simply left out


async def record_sign_in(
    *,
    whop_user_id: str,
    email: str | None,
    name: str | None,
    username: str | None,
    picture: str | None,
) -> CreatorRecord:
    """The creator for this Whop user, created on first sign-in.

    The email follows Whop's on every sign-in; the display name and the (https) avatar are
    only seeded from the Whop profile once, since the creator edits them in the studio.
    One statement, so two first sign-ins racing still make one creator.
    """
    if email is not None and len(email) > EMAIL_MAX:
        email = None
    # Hand-written: ON CONFLICT with a different update than insert is the whole point.
    rows = await Creator.raw(
        "INSERT INTO creator (whop_user_id, email, display_name, avatar_url, currency) "
        "VALUES ({}, {}, {}, {}, "
        "  COALESCE((SELECT default_currency FROM platform_config WHERE id = 1), 'usd')) "
        "ON CONFLICT (whop_user_id) DO UPDATE SET "
        "  email = COALESCE(EXCLUDED.email, creator.email), updated_at = now() "
        "RETURNING *",
        whop_user_id,
        email,
        _display_name(name, username),
        _avatar(picture),
    )
    return CreatorRecord.from_row(rows[0])
