"""Signed-in sessions, stored in PostgreSQL so that any app process serves any creator.

The browser holds a random token; the table holds its SHA-256, an owner and an absolute
expiry. A new token is issued at every sign-in (the old one deleted), so a session id an
attacker planted before login is worthless afterwards; sign-out deletes the row, which ends
the session in every process at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from app.db.tables import AuthSession, Creator

SESSION_LIFETIME = timedelta(days=14)


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


async def creator_for_session(token: str | None) -> dict[str, Any] | None:
    """The signed-in creator's row, or None for a missing, unknown or expired token."""
    if not token or len(token) > 128:
        return None
    rows = await Creator.raw(
        "SELECT c.* FROM creator c JOIN auth_session s ON s.creator = c.id "
        "WHERE s.token_hash = {} AND s.expires_at > now()",
        _digest(token),
    )
    return rows[0] if rows else None


async def purge_expired_sessions() -> int:
    gone = await AuthSession.delete().where(AuthSession.expires_at <= datetime.now(UTC)).returning(
        AuthSession.token_hash
    )
    return len(gone)
