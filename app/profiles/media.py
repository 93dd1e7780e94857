"""Uploaded avatars, served from PostgreSQL at /media/{id}-{size}.webp.

The id is a hash of the content (app/studio/avatars.py), so a URL always names the same
bytes: browsers and CDNs may keep an answer for a year without asking again. Anyone may
fetch them, like the public page that shows them; no session is looked up and no cookie
is set.
"""

from __future__ import annotations

import re

from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from app.db.tables import Image
from app.shared.rules import AVATAR_SIZES

IMMUTABLE = "public, max-age=31536000, immutable"
_NAME = re.compile(r"(?P<id>[0-9a-f]{32})-(?P<side>[0-9]{2,4})\.webp")


async def avatar_file(image_id: str, side: int) -> bytes | None:
    """The WebP of an uploaded avatar at one of `AVATAR_SIZES` (the first is the small
    column, the second the large one), or None."""
    column = Image.small if side == AVATAR_SIZES[0] else Image.large
    row = await Image.select(column.as_alias("data")).where(Image.id == image_id).first()
    return bytes(row["data"]) if row else None


class MediaController(Controller):
    path = "/media"
    include_in_schema = False
    opt = {"exclude_from_csrf": True}  # nothing here accepts a write

    @get("/{file:str}", name="media:avatar", cache=False)
    async def avatar(self, file: FromPath[str]) -> Response[bytes]:
        match = _NAME.fullmatch(file)
        side = int(match["side"]) if match else 0
        data = await avatar_file(match["id"], side) if match and side in AVATAR_SIZES else None
        if data is None:
            raise NotFoundException("No such image.")
        return Response(
            data,
            media_type="image/webp",
            headers={"cache-control": IMMUTABLE},  # nosniff: on every answer (app/web/headers.py)
        )
