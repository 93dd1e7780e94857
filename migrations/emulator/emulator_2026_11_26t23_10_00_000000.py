"""The emulator's Sign in with Whop: test users, OAuth clients, codes, tokens, signing key.

Secrets (client secrets, codes, access and refresh tokens) are stored as SHA-256 hashes,
as a real authorization server would keep them; the id_token signing key is kept whole,
generated once so that tokens stay verifiable across restarts.

No braces in the SQL: Piccolo's raw() reads `{…}` as a placeholder, even inside a regex.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-26T23:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "whop_emulator OAuth: users, clients, codes, tokens, signing key"


class RawTable(Table, tablename="migration"):
    pass


FORWARDS = [
    """
    CREATE TABLE whop_emulator.whop_user (
        id text PRIMARY KEY CHECK (id ~ '^user_[A-Za-z0-9]+$' AND char_length(id) = 19),
        name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 60),
        username text NOT NULL
            CHECK (username ~ '^[a-z0-9_.]+$' AND char_length(username) BETWEEN 3 AND 30),
        email text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
        picture text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT whop_user_username_unique UNIQUE (username)
    )
    """,
    "CREATE UNIQUE INDEX whop_user_email_unique ON whop_emulator.whop_user (lower(email))",
    """
    CREATE TABLE whop_emulator.oauth_client (
        client_id text PRIMARY KEY,
        name text NOT NULL,
        secret_hash text NOT NULL,
        redirect_uris text[] NOT NULL DEFAULT ARRAY[]::text[],
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE whop_emulator.oauth_code (
        code_hash text PRIMARY KEY,
        grant_id text NOT NULL,
        client_id text NOT NULL REFERENCES whop_emulator.oauth_client ON DELETE CASCADE,
        user_id text NOT NULL REFERENCES whop_emulator.whop_user ON DELETE CASCADE,
        redirect_uri text NOT NULL,
        scope text NOT NULL,
        nonce text,
        code_challenge text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz
    )
    """,
    """
    CREATE TABLE whop_emulator.oauth_token (
        token_hash text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('access', 'refresh')),
        grant_id text NOT NULL,
        client_id text NOT NULL REFERENCES whop_emulator.oauth_client ON DELETE CASCADE,
        user_id text NOT NULL REFERENCES whop_emulator.whop_user ON DELETE CASCADE,
        scope text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        revoked_at timestamptz
    )
    """,
    "CREATE INDEX oauth_token_grant_idx ON whop_emulator.oauth_token (grant_id)",
    """
    CREATE TABLE whop_emulator.signing_key (
        kid text PRIMARY KEY,
        purpose text NOT NULL UNIQUE,
        private_pem text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]

BACKWARDS = [
    "DROP TABLE whop_emulator.signing_key",
    "DROP TABLE whop_emulator.oauth_token",
    "DROP TABLE whop_emulator.oauth_code",
    "DROP TABLE whop_emulator.oauth_client",
    "DROP TABLE whop_emulator.whop_user",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="emulator", description=DESCRIPTION)

    async def run():
        for statement in FORWARDS:
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in BACKWARDS:
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
