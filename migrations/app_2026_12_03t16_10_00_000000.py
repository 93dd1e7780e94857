"""Uploaded avatars, stored in PostgreSQL so that every app process can serve them.

`image` holds one upload, re-encoded as WebP at the sizes the page shows (96 and 192 px: 1x
and 2x); its id is a content hash, so its URL can be cached for a year. `creator.avatar_image`
names the creator's current upload (NULL: none, the `avatar_url` or the monogram shows).

Two triggers keep the pair consistent whoever writes the creator row: typing an avatar URL
drops the upload (the URL wins), and any change of `avatar_image` deletes the creator's other
image rows, so no upload outlives its use. Deleting a creator deletes its images (CASCADE).
`avatar_image` has no foreign key: `image.creator` already references `creator`, and a
cycle of foreign keys would leave no order in which the two tables can be emptied.

The public page shows the upload through `creator.avatar_image`, so the creator row changes
whenever the avatar does and its existing `linkmint_page` trigger invalidates the page cache;
image rows themselves never change (a new upload is a new row).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T16:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "image (uploaded avatars as WebP), creator.avatar_image"


class RawTable(Table, tablename="image"):
    pass


FORWARDS = [
    "CREATE TABLE image ("
    " id varchar(32) PRIMARY KEY CHECK (char_length(id) = 32 AND id ~ '^[0-9a-f]+$'),"
    " creator integer NOT NULL REFERENCES creator (id) ON DELETE CASCADE,"
    " small bytea NOT NULL,"
    " large bytea NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX image_creator ON image (creator)",
    "ALTER TABLE creator ADD COLUMN avatar_image varchar(32) NULL",
    """
    CREATE FUNCTION creator_avatar_url_wins() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.avatar_url <> '' AND NEW.avatar_url IS DISTINCT FROM OLD.avatar_url THEN
        NEW.avatar_image := NULL;
      END IF;
      RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER creator_avatar_url_wins BEFORE UPDATE OF avatar_url ON creator "
    "FOR EACH ROW EXECUTE FUNCTION creator_avatar_url_wins()",
    """
    CREATE FUNCTION creator_avatar_images_pruned() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM image WHERE creator = NEW.id AND id IS DISTINCT FROM NEW.avatar_image;
      RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER creator_avatar_images_pruned AFTER UPDATE ON creator "
    "FOR EACH ROW WHEN (OLD.avatar_image IS DISTINCT FROM NEW.avatar_image) "
    "EXECUTE FUNCTION creator_avatar_images_pruned()",
]

BACKWARDS = [
    "DROP TRIGGER creator_avatar_images_pruned ON creator",
    "DROP FUNCTION creator_avatar_images_pruned()",
    "DROP TRIGGER creator_avatar_url_wins ON creator",
    "DROP FUNCTION creator_avatar_url_wins()",
    "ALTER TABLE creator DROP COLUMN avatar_image",
    "DROP TABLE image",
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
