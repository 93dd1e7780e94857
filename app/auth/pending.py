"""What a browser carries from /auth/login to /auth/callback: a pending sign-in.

State, nonce and PKCE verifier (and where to go afterwards) travel in one short-lived,
HttpOnly cookie, sealed with AES-GCM under a key derived from SECRET_KEY: the browser can
neither read the verifier nor change any of it, and a stale cookie is refused even if a
browser kept it past its Max-Age.

A sealed cookie alone could be replayed, though: anyone holding a copy could drive as many
callbacks (and token exchanges at Whop) as they liked within its ten minutes. So PostgreSQL
also keeps the SHA-256 of each pending sign-in's state, and the callback deletes that row
before anything else (one `DELETE … RETURNING`, so of two racing callbacks exactly one gets
it). The callback may still land on any app process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import unicodedata
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.db import tables

PENDING_LIFETIME = 10 * 60  # seconds to finish signing in at Whop
_AAD = b"linkmint pending sign-in v1"


def pending_cookie_name(secure: bool) -> str:
    return "__Host-lm_oauth" if secure else "lm_oauth"


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    state: str
    nonce: str
    verifier: str
    next: str
    expires_at: int


def _key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_AAD)
    return hkdf.derive(secret_key.encode())


def seal(pending: PendingSignIn, secret_key: str) -> str:
    nonce = os.urandom(12)
    plain = json.dumps(asdict(pending), separators=(",", ":")).encode()
    sealed = nonce + AESGCM(_key(secret_key)).encrypt(nonce, plain, _AAD)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def unseal(value: str | None, secret_key: str, *, now: float | None = None) -> PendingSignIn | None:
    """The pending sign-in, or None when the cookie is missing, forged, altered or stale."""
    if not value or len(value) > 2048:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        plain = AESGCM(_key(secret_key)).decrypt(raw[:12], raw[12:], _AAD)
        pending = PendingSignIn(**json.loads(plain))
    except (InvalidTag, ValueError, TypeError):
        return None
    if pending.expires_at < (time.time() if now is None else now):
        return None
    return pending


def _state_digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


async def remember(pending: PendingSignIn) -> None:
    """Record `pending` so that its callback can be accepted, once."""
    await tables.PendingSignIn.insert(
        tables.PendingSignIn(
            state_hash=_state_digest(pending.state),
            expires_at=datetime.fromtimestamp(pending.expires_at, UTC),
        )
    )


async def consume(pending: PendingSignIn) -> bool:
    """End `pending` on the server: True for the one call that found it still open."""
    # Hand-written: one DELETE both ends it and says whether it was still open, on the
    # database's clock, so that of two racing callbacks exactly one is told yes.
    rows = await tables.PendingSignIn.raw(
        "DELETE FROM pending_sign_in WHERE state_hash = {} RETURNING expires_at > now() AS open",
        _state_digest(pending.state),
    )
    return bool(rows) and bool(rows[0]["open"])


async def purge_stale_pending() -> int:
    """Forget pending sign-ins nobody finished (their cookies are refused already)."""
    # Hand-written: expiry is judged on the database's clock, as `consume` judges it.
    gone = await tables.PendingSignIn.raw(
        "DELETE FROM pending_sign_in WHERE expires_at <= now() RETURNING 1 AS gone"
    )
    return len(gone)


def safe_next(raw: str | None) -> str | None:
    """A local path to go to after signing in, or None for anything else (the caller then
    picks the dashboard).

    Browsers read `//host`, `/\\host` and (after decoding) `/%2F%2Fhost` as another site,
    and strip tabs and newlines before parsing, so all of those are refused outright.
    """
    if not raw or len(raw) > 1024:
        return None
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in raw):
        return None
    decoded = raw
    for _ in range(3):  # "%252F" decodes to "%2F", then to "/"
        decoded = unquote(decoded)
    for candidate in (raw, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return None
        if "\\" in candidate:
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return None
    if raw == "/auth" or raw.startswith("/auth/"):
        return None  # never back into the sign-in flow itself
    return raw
