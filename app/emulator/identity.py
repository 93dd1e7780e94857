"""What the emulator's Sign in with Whop remembers: users, OAuth clients, codes, tokens, keys.

All of it lives in PostgreSQL (schema `whop_emulator`), so any number of app processes
sharing one database act as one Whop. Every one-time transition is a single conditional
UPDATE … RETURNING, so a code or refresh token is redeemed by exactly one request however
many race for it. Codes and tokens are stored as SHA-256 hashes; the plain value exists
only in the response that handed it out.

As at Whop, an email is one account: a unique index on lower(email) holds it, a guest
checkout pays as the user its email belongs to (made then if there is none), and a new
user made at the consent page with a known email is that user signing in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import asyncpg
from joserfc.jwk import ECKey
from piccolo.columns import Array, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.config import whop_id

CODE_LIFETIME = timedelta(minutes=5)
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
REFRESH_TOKEN_LIFETIME = timedelta(days=30)


class WhopUser(Table, tablename="whop_user", schema="whop_emulator"):
    id = Text(primary_key=True)
    name = Text()
    username = Text()
    email = Text()
    picture = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class OAuthClient(Table, tablename="oauth_client", schema="whop_emulator"):
    client_id = Text(primary_key=True)
    name = Text()
    secret_hash = Text()
    redirect_uris = Array(base_column=Text())
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class AuthorizationCode(Table, tablename="oauth_code", schema="whop_emulator"):
    code_hash = Text(primary_key=True)
    grant_id = Text()
    client_id = Text()
    user_id = Text()
    redirect_uri = Text()
    scope = Text()
    nonce = Text(null=True, default=None)
    code_challenge = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class OAuthToken(Table, tablename="oauth_token", schema="whop_emulator"):
    token_hash = Text(primary_key=True)
    kind = Text()  # 'access' | 'refresh'
    grant_id = Text()  # every token descended from one authorization shares it
    client_id = Text()
    user_id = Text()
    scope = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class SigningKey(Table, tablename="signing_key", schema="whop_emulator"):
    kid = Text(primary_key=True)
    purpose = Text()
    private_pem = Text()
    created_at = Timestamptz(default=TimestamptzNow())


IDENTITY_TABLES = [WhopUser, OAuthClient, AuthorizationCode, OAuthToken, SigningKey]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- users ------------------------------------------------------------------------------


class UserTaken(Exception):
    def __init__(self, field: Literal["username"]) -> None:
        super().__init__(field)
        self.field = field


async def recent_users(limit: int = 12) -> list[dict[str, Any]]:
    return await WhopUser.select().order_by(WhopUser.created_at, ascending=False).limit(limit)


async def user_by_id(user_id: str) -> dict[str, Any] | None:
    return await WhopUser.select().where(WhopUser.id == user_id).first()


async def create_user(name: str, username: str, email: str) -> dict[str, Any]:
    """A new test user, or the user who already has this email: at Whop an email is one
    account, so creating it again signs in to it. `UserTaken` means another user holds the
    username."""
    email = email.strip()
    rows = await WhopUser.raw(
        "INSERT INTO whop_emulator.whop_user (id, name, username, email) "
        "VALUES ({}, {}, {}, {}) ON CONFLICT DO NOTHING RETURNING *",
        whop_id("user_"),
        name,
        username,
        email,
    )
    # Nothing inserted: a unique index said no. Were the email's owner being made by a
    # concurrent request, the insert waited for its commit, so this read sees the row.
    rows = rows or await WhopUser.raw(
        "SELECT * FROM whop_emulator.whop_user WHERE lower(email) = lower({})", email
    )
    if not rows:
        raise UserTaken("username")
    return rows[0]


def _guest_profile(email: str) -> tuple[str, str]:
    """(name, username) of a user Whop makes at a guest checkout: the email's local part,
    and that part cut down to what a username may hold."""
    local = email.split("@", 1)[0]
    username = re.sub(r"[^a-z0-9_.]", "_", local.lower())[:24].ljust(3, "_")
    return local[:60], username


async def user_for_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record:
    """The Whop user `email` belongs to (case and surrounding spaces aside), made at its
    first guest checkout, so that signing in with that email later finds the purchase.

    Safe on `conn`'s transaction however many first payments with one email race: each
    inserts, and the unique index on lower(email) makes all but one wait for that one's
    commit, then find nothing inserted and read its row. A username that another user holds
    gets a random suffix instead.
    """
    email = email.strip()
    name, base = _guest_profile(email)
    username = base
    for _ in range(5):
        row = await conn.fetchrow(
            "INSERT INTO whop_emulator.whop_user (id, name, username, email) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING *",
            whop_id("user_"),
            name,
            username,
            email,
        )
        row = row or await conn.fetchrow(
            "SELECT * FROM whop_emulator.whop_user WHERE lower(email) = lower($1)", email
        )
        if row is not None:
            return row
        username = f"{base}_{secrets.randbelow(10**5):05d}"
    raise RuntimeError(f"no free username for a guest like {base!r}")


# --- clients ----------------------------------------------------------------------------


async def register_client(client_id: str, name: str, secret: str, redirect_uri: str) -> None:
    """Create or update the client and add `redirect_uri` to its registered set.

    Several app instances (different APP_URLs) may share one database, so a URI is only
    ever added. The upsert locks the row, so concurrent start-ups each add theirs.
    """
    await OAuthClient.raw(
        "INSERT INTO whop_emulator.oauth_client (client_id, name, secret_hash, redirect_uris) "
        "VALUES ({}, {}, {}, ARRAY[{}]::text[]) "
        "ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, "
        "  secret_hash = EXCLUDED.secret_hash, updated_at = now(), "
        "  redirect_uris = CASE WHEN EXCLUDED.redirect_uris[1] = ANY(oauth_client.redirect_uris) "
        "    THEN oauth_client.redirect_uris "
        "    ELSE oauth_client.redirect_uris || EXCLUDED.redirect_uris END",
        client_id,
        name,
        digest(secret),
        redirect_uri,
    )


async def client_by_id(client_id: str) -> dict[str, Any] | None:
    return await OAuthClient.select().where(OAuthClient.client_id == client_id).first()


def secret_matches(client: dict[str, Any], secret: str) -> bool:
    return secrets.compare_digest(client["secret_hash"], digest(secret))


# --- authorization codes ----------------------------------------------------------------


async def issue_code(
    *,
    client_id: str,
    user_id: str,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str,
) -> str:
    code = secrets.token_urlsafe(32)
    await AuthorizationCode.raw(
        "INSERT INTO whop_emulator.oauth_code (code_hash, grant_id, client_id, user_id, "
        "redirect_uri, scope, nonce, code_challenge, expires_at) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, now() + {}::interval)",
        digest(code),
        secrets.token_urlsafe(16),
        client_id,
        user_id,
        redirect_uri,
        scope,
        nonce,
        code_challenge,
        CODE_LIFETIME,
    )
    return code


@dataclass(frozen=True, slots=True)
class Redemption:
    outcome: Literal["ok", "unknown", "used", "expired"]
    code: dict[str, Any] | None = None


async def redeem_code(code: str) -> Redemption:
    """Use a code up. Whatever is checked afterwards, a code is only ever presented once.

    A second presentation is a replay: the tokens issued for the first are revoked too
    (RFC 6749 §4.1.2), since one of the two presenters is not the client.
    """
    rows = await AuthorizationCode.raw(
        "UPDATE whop_emulator.oauth_code SET used_at = now() "
        "WHERE code_hash = {} AND used_at IS NULL "
        "RETURNING *, expires_at <= now() AS expired",
        digest(code),
    )
    if rows:
        row = rows[0]
        return Redemption("expired" if row["expired"] else "ok", row)
    spent = (
        await AuthorizationCode.select(AuthorizationCode.grant_id)
        .where(AuthorizationCode.code_hash == digest(code))
        .first()
    )
    if spent is None:
        return Redemption("unknown")
    await revoke_grant(spent["grant_id"])
    return Redemption("used")


# --- tokens -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str


async def issue_tokens(*, grant_id: str, client_id: str, user_id: str, scope: str) -> IssuedTokens:
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    await OAuthToken.raw(
        "INSERT INTO whop_emulator.oauth_token "
        "(token_hash, kind, grant_id, client_id, user_id, scope, expires_at) VALUES "
        "({}, 'access', {}, {}, {}, {}, now() + {}::interval), "
        "({}, 'refresh', {}, {}, {}, {}, now() + {}::interval)",
        digest(access), grant_id, client_id, user_id, scope, ACCESS_TOKEN_LIFETIME,
        digest(refresh), grant_id, client_id, user_id, scope, REFRESH_TOKEN_LIFETIME,
    )  # fmt: skip
    return IssuedTokens(access, refresh)


@dataclass(frozen=True, slots=True)
class Rotation:
    outcome: Literal["ok", "unknown", "reused", "revoked", "expired"]
    token: dict[str, Any] | None = None


async def spend_refresh_token(refresh_token: str) -> Rotation:
    """Refresh tokens rotate: each is good for one refresh. Presenting a spent one again
    means it leaked, so the whole grant is revoked (OAuth 2.1 §4.3.1)."""
    rows = await OAuthToken.raw(
        "UPDATE whop_emulator.oauth_token SET used_at = now() "
        "WHERE token_hash = {} AND kind = 'refresh' AND used_at IS NULL AND revoked_at IS NULL "
        "RETURNING *, expires_at <= now() AS expired",
        digest(refresh_token),
    )
    if rows:
        row = rows[0]
        return Rotation("expired" if row["expired"] else "ok", row)
    row = (
        await OAuthToken.select()
        .where((OAuthToken.token_hash == digest(refresh_token)) & (OAuthToken.kind == "refresh"))
        .first()
    )
    if row is None:
        return Rotation("unknown")
    if row["revoked_at"] is not None:
        return Rotation("revoked", row)
    await revoke_grant(row["grant_id"])
    return Rotation("reused", row)


async def revoke_grant(grant_id: str) -> None:
    await OAuthToken.raw(
        "UPDATE whop_emulator.oauth_token SET revoked_at = now() "
        "WHERE grant_id = {} AND revoked_at IS NULL",
        grant_id,
    )


async def revoke_refresh_token(refresh_token: str, client_id: str) -> None:
    """Revoke a refresh token and every refresh token of its grant. Access tokens stay
    valid until they expire: Whop's "cannot be server-revoked"."""
    await OAuthToken.raw(
        "UPDATE whop_emulator.oauth_token SET revoked_at = now() "
        "WHERE kind = 'refresh' AND revoked_at IS NULL AND grant_id = ("
        "  SELECT grant_id FROM whop_emulator.oauth_token "
        "  WHERE token_hash = {} AND kind = 'refresh' AND client_id = {})",
        digest(refresh_token),
        client_id,
    )


async def access_grant(access_token: str) -> dict[str, Any] | None:
    """The live access token's scope and its user's profile, or None."""
    rows = await OAuthToken.raw(
        "SELECT t.scope, t.client_id, u.id AS sub, u.name, u.username, u.email, u.picture "
        "FROM whop_emulator.oauth_token t JOIN whop_emulator.whop_user u ON u.id = t.user_id "
        "WHERE t.token_hash = {} AND t.kind = 'access' AND t.revoked_at IS NULL "
        "AND t.expires_at > now()",
        digest(access_token),
    )
    return rows[0] if rows else None


# --- the id_token signing key -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmulatorKeys:
    signing: ECKey  # ES256, signs id_tokens; published at /.well-known/jwks.json
    form_secret: bytes  # HMAC key for the authorize page's approval tickets


_keys: EmulatorKeys | None = None


def _load(kid: str, pem: str) -> EmulatorKeys:
    key = ECKey.import_key(pem, parameters={"kid": kid, "use": "sig", "alg": "ES256"})
    form_secret = hashlib.sha256(b"whop-emulator authorize form\x00" + pem.encode()).digest()
    return EmulatorKeys(signing=key, form_secret=form_secret)


async def ensure_signing_key() -> EmulatorKeys:
    """The emulator's one signing key: generated by whichever process starts first, then
    read by all (ON CONFLICT), so tokens verify across restarts and processes."""
    global _keys
    row = await SigningKey.select().where(SigningKey.purpose == "id_token").first()
    if row is None:
        candidate = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": "ES256"})
        await SigningKey.raw(
            "INSERT INTO whop_emulator.signing_key (kid, purpose, private_pem) "
            "VALUES ({}, 'id_token', {}) ON CONFLICT DO NOTHING",
            candidate.thumbprint(),
            candidate.as_pem(private=True).decode(),
        )
        row = await SigningKey.select().where(SigningKey.purpose == "id_token").first()
        if row is None:
            raise RuntimeError("the emulator's signing key could not be stored")
    _keys = _load(row["kid"], row["private_pem"])
    return _keys


async def emulator_keys() -> EmulatorKeys:
    return _keys or await ensure_signing_key()
