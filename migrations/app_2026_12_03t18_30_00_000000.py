"""Uploaded avatars' larger rendition at 256 px instead of 192.

Link previews (Facebook's among them) want an `og:image` of at least 200 px, and the public
page's photo at 96 CSS px wants more than 192 on a phone's 3x screen. New uploads are drawn
at 96 and 256 px; this draws every stored larger rendition again at 256 px. The original
upload is not kept, so a photo stored at 192 is scaled up from those pixels: no sharper
than before, but every creator's link preview is large enough.

The id (a hash of the first renditions) stays: the new file has a new address (`…-256.webp`),
and the former address (`…-192.webp`) redirects to it (app/profiles/media.py), so nothing
cached under either ever changes meaning. Backwards draws them at 192 again.

Rows are read and written one at a time, so the migration's memory stays that of one photo.
"""

import io

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table
from PIL import Image, ImageOps

ID = "2026-12-03T18:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "uploaded avatars' larger rendition drawn again at 256 px"

WEBP_QUALITY = 82  # as app/studio/avatars.py


class RawTable(Table, tablename="image"):
    pass


def redrawn(webp: bytes, side: int) -> bytes | None:
    """`webp` at `side` × `side` px, or None when it already is."""
    picture = Image.open(io.BytesIO(webp), formats=("WEBP",))
    if picture.size == (side, side):
        return None
    picture.load()
    square = ImageOps.fit(picture, (side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


async def redraw_all(side: int) -> None:
    rows = await RawTable.raw("SELECT id FROM image ORDER BY id")
    for row in rows:
        found = await RawTable.raw("SELECT large FROM image WHERE id = {}", row["id"])
        if not found:  # deleted meanwhile (a new upload, a removal)
            continue
        large = redrawn(bytes(found[0]["large"]), side)
        if large is not None:
            await RawTable.raw("UPDATE image SET large = {} WHERE id = {}", large, row["id"])


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="app", description=DESCRIPTION)

    async def run():
        await redraw_all(256)

    async def run_backwards():
        await redraw_all(192)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
