"""Rules Piccolo cannot express as columns: checks, and the index the public page reads by."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-26T22:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "creator and link check constraints, link ordering index"


class RawTable(Table, tablename="creator"):
    pass


# Regex counts are written {{n}}: Piccolo's raw() reads single braces as placeholders.
FORWARDS = [
    # Handles are lower-case [a-z0-9_.], 2-30 characters (reserved words are refused in code).
    "ALTER TABLE creator ADD CONSTRAINT creator_handle_format "
    "CHECK (handle IS NULL OR handle ~ '^[a-z0-9_.]{{2,30}}$')",
    "ALTER TABLE creator ADD CONSTRAINT creator_accent_format "
    "CHECK (accent_color ~ '^#[0-9a-f]{{6}}$')",
    "ALTER TABLE creator ADD CONSTRAINT creator_currency_format CHECK (currency ~ '^[a-z]{{3}}$')",
    "ALTER TABLE link ADD CONSTRAINT link_kind_known CHECK (kind IN ('link', 'header', 'premium'))",
    "ALTER TABLE link ADD CONSTRAINT link_price_only_premium "
    "CHECK ((kind = 'premium') = (price_cents IS NOT NULL) AND (price_cents IS NULL OR price_cents > 0))",
    "ALTER TABLE link ADD CONSTRAINT link_window_ordered "
    "CHECK (starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at)",
    "CREATE INDEX link_creator_position_idx ON link (creator, position, id)",
]

BACKWARDS = [
    "DROP INDEX link_creator_position_idx",
    "ALTER TABLE link DROP CONSTRAINT link_window_ordered",
    "ALTER TABLE link DROP CONSTRAINT link_price_only_premium",
    "ALTER TABLE link DROP CONSTRAINT link_kind_known",
    "ALTER TABLE creator DROP CONSTRAINT creator_currency_format",
    "ALTER TABLE creator DROP CONSTRAINT creator_accent_format",
    "ALTER TABLE creator DROP CONSTRAINT creator_handle_format",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="app", description=DESCRIPTION)

    async def run():
        for statement in FORWARDS:
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in BACKWARDS:
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
