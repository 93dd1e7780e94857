"""Uploaded avatars, served from PostgreSQL at /media/{id}-{size}.webp.

The id is a hash of the content (app/studio/avatars.py), so a URL always names the same
bytes: browsers and CDNs may keep an answer for a year without asking again. Anyone may
fetch them, like the public page that shows them; no session is looked up and no cookie
is set.

The larger rendition was 192 px before it was 256 (the migration of 2026-12-03T18:30 drew
the stored ones again); an address at the former size, in a page someone cached or a link
preview someone shared, redirects to the current one for good.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from app.db.tables import Image
from app.shared.rules import AVATAR_FORMER_SIZE, AVATAR_SIZES

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
    async def avatar(self, request: Request[Any, Any, Any], file: FromPath[str]) -> Response[Any]:
        match = _NAME.fullmatch(file)
        side = int(match["side"]) if match else 0
        wanted = AVATAR_SIZES[1] if side == AVATAR_FORMER_SIZE else side
        data = await avatar_file(match["id"], wanted) if match and wanted in AVATAR_SIZES else None
        if data is None or not match:
            raise NotFoundException("No such image.")
        if wanted != side:
            current = request.app.route_reverse("media:avatar", file=f"{match['id']}-{wanted}.webp")
            return Redirect(current, status_code=301, headers={"cache-control": IMMUTABLE})
        return Response(
            data,
            media_type="image/webp",
            headers={"cache-control": IMMUTABLE},  # nosniff: on every answer (app/web/headers.py)
        )
