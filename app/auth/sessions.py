"""Signed-in sessions, stored in PostgreSQL so that any app process serves any creator.

The browser holds a random token; the table holds its SHA-256, an owner, an absolute
expiry and when it was last used. A new token is issued at every sign-in (the old one
deleted), so a session id an attacker planted before login is worthless afterwards; sign-out
deletes the row, which ends the session in every process at once, and "sign out everywhere"
deletes all of a creator's rows.

A session also ends after SESSION_IDLE_TIMEOUT without use, so a browser left signed in and
forgotten does not stay a way in for the whole fortnight. Last use is written at most once
per TOUCH_EVERY: reading a session stays one SELECT for almost every request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from app.auth.service import CreatorRecord
from app.db.tables import AuthSession, Creator

SESSION_LIFETIME = timedelta(days=14)
SESSION_IDLE_TIMEOUT = timedelta(days=7)
TOUCH_EVERY = timedelta(minutes=5)


def cookie_name(secure: bool) -> str:
    # The __Host- prefix pins the cookie to this origin, but browsers only accept it over https.
    return "__Host-lm_session" if secure else "lm_session"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(creator_id: int, replacing: str | None = None) -> str:
    """A fresh session for `creator_id`; the one it replaces (if any) stops working."""
    if replacing:
        await end_session(replacing)
    token = secrets.token_urlsafe(32)
    await AuthSession.insert(
        AuthSession(
            token_hash=_digest(token),
            creator=creator_id,
            expires_at=datetime.now(UTC) + SESSION_LIFETIME,
        )
    )
    return token


async def end_session(token: str) -> None:
    await AuthSession.delete().where(AuthSession.token_hash == _digest(token))


async def end_all_sessions(creator_id: int) -> int:
    """Sign `creator_id` out of every browser; the number of sessions ended."""
    gone = (
        await AuthSession.delete()
        .where(AuthSession.creator == creator_id)
        .returning(AuthSession.token_hash)
    )
    return len(gone)


async def creator_for_session(token: str | None) -> CreatorRecord | None:
    """The signed-in creator's row, or None for a missing, unknown, expired or idle token.

    Hand-written SQL: this runs on every signed-in request, so the session check, the idle
    test and the creator's row come back in one round trip.
    """
    if not token or len(token) > 128:
        return None
    digest = _digest(token)
    rows = await Creator.raw(
        "SELECT c.*, s.last_used_at < now() - {}::interval AS session_needs_touch "
        "FROM creator c JOIN auth_session s ON s.creator = c.id "
        "WHERE s.token_hash = {} AND s.expires_at > now() "
        "AND s.last_used_at > now() - {}::interval",
        TOUCH_EVERY,
        digest,
        SESSION_IDLE_TIMEOUT,
    )
    if not rows:
        return None
    if rows[0]["session_needs_touch"]:
        # (last_used_at is only ever written and compared on the database's clock.)
        await AuthSession.raw(
            "UPDATE auth_session SET last_used_at = now() WHERE token_hash = {}", digest
        )
    return CreatorRecord.from_row(rows[0])


async def purge_expired_sessions() -> int:
    """Delete sessions past their absolute expiry or idle too long (idempotent)."""
    # Hand-written: idleness is judged on the database's clock, as creator_for_session does.
    gone = await AuthSession.raw(
        "DELETE FROM auth_session "
        "WHERE expires_at <= now() OR last_used_at <= now() - {}::interval RETURNING 1 AS gone",
        SESSION_IDLE_TIMEOUT,
    )
    return len(gone)
