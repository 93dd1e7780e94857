"""What a browser carries from /auth/login to /auth/callback: a pending sign-in.

State, nonce and PKCE verifier (and where to go afterwards) travel in one short-lived,
HttpOnly cookie, sealed with AES-GCM under a key derived from SECRET_KEY: the browser can
neither read the verifier nor change any of it, and a stale cookie is refused even if a
browser kept it past its Max-Age. Nothing about a pending sign-in is stored server-side,
so the callback may land on any app process.
"""

from __future__ import annotations

import base64
import json
import os
import time
import unicodedata
from dataclasses import asdict, dataclass
from urllib.parse import unquote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PENDING_LIFETIME = 10 * 60  # seconds to finish signing in at Whop
DEFAULT_NEXT = "/dashboard"
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


def safe_next(raw: str | None) -> str:
    """A local path to go to after signing in; anything else becomes /dashboard.

    Browsers read `//host`, `/\\host` and (after decoding) `/%2F%2Fhost` as another site,
    and strip tabs and newlines before parsing, so all of those are refused outright.
    """
    if not raw or len(raw) > 1024:
        return DEFAULT_NEXT
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in raw):
        return DEFAULT_NEXT
    decoded = raw
    for _ in range(3):  # "%252F" decodes to "%2F", then to "/"
        decoded = unquote(decoded)
    for candidate in (raw, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return DEFAULT_NEXT
        if "\\" in candidate:
            return DEFAULT_NEXT
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return DEFAULT_NEXT
    if raw == "/auth" or raw.startswith("/auth/"):
        return DEFAULT_NEXT  # never back into the sign-in flow itself
    return raw
