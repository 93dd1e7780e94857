"""Uploaded avatars: checked by their content, re-encoded, stored in PostgreSQL.

A creator's upload is untrusted bytes that Linkmint must decode, so it is judged by what it
is, never by its name or declared type: Pillow opens it knowing only JPEG, PNG, WebP and GIF
(an SVG, or HTML renamed `.png`, is no image to it), and refuses more than `MAX_SIDE` pixels a
side before decoding (a decompression bomb is a small file that decodes to gigabytes). What
is kept is never the upload itself but a new WebP drawn from its pixels: turned upright as
its EXIF orientation says, cropped to a centred square, at each of `AVATAR_SIZES`, with no
metadata (a phone photo's EXIF carries where it was taken). Only the first frame of an
animation is kept.

The renditions live in the `image` table, so any process can serve them; the creator row's
`avatar_image` names the one shown, and triggers delete the creator's other images whenever
it changes or an avatar URL is typed (see the migration of 2026-12-03T16:10).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import anyio.to_thread
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from app.auth.service import CreatorRecord
from app.db.tables import Creator
from app.shared.rules import AVATAR_SIZES, InvalidField

MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 4096
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
WEBP_QUALITY = 82

# Pillow's own guard against decompression bombs, at the largest image accepted: over twice
# that, Image.open refuses the file; anything between is refused by the check of its sides,
# which also comes before decoding.
PILImage.MAX_IMAGE_PIXELS = MAX_SIDE * MAX_SIDE

TOO_BIG = "That file is larger than 5 MB. Choose a smaller photo."
EMPTY = "That file is empty. Choose a photo."
NOT_AN_IMAGE = "That file is not a JPEG, PNG, WebP or GIF image. Choose a photo."
TOO_MANY_PIXELS = f"That image is larger than {MAX_SIDE} × {MAX_SIDE} pixels. Choose a smaller one."
DAMAGED = "That image is damaged or incomplete. Choose another photo, or save it again first."
NO_FILE = "Choose a photo to upload."


@dataclass(frozen=True, slots=True)
class Renditions:
    """The WebP files of one upload, smallest first, and the content hash naming them."""

    id: str
    small: bytes
    large: bytes


def _square_webp(picture: PILImage.Image, side: int) -> bytes:
    square = ImageOps.fit(picture, (side, side), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    # No `exif`, `icc_profile` or `xmp` passed: the new file carries pixels only.
    square.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def _decode(data: bytes) -> PILImage.Image:
    """The first frame of `data` upright, as RGB(A), or InvalidField with what is wrong."""
    try:
        source = PILImage.open(io.BytesIO(data), formats=FORMATS)
        width, height = source.size
        if width > MAX_SIDE or height > MAX_SIDE:
            raise InvalidField(TOO_MANY_PIXELS)
        source.seek(0)
        source.load()
        upright = ImageOps.exif_transpose(source)
        has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
        return upright.convert("RGBA" if has_alpha else "RGB")
    except InvalidField:
        raise
    except UnidentifiedImageError:
        raise InvalidField(NOT_AN_IMAGE) from None
    except PILImage.DecompressionBombError:  # over twice MAX_IMAGE_PIXELS: refused unopened
        raise InvalidField(TOO_MANY_PIXELS) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError):
        # Truncated data, a corrupt chunk, an unsupported variant of a known format.
        raise InvalidField(DAMAGED) from None


def render_upload(creator_id: int, data: bytes) -> Renditions:
    """Checked and re-encoded renditions of an upload (CPU-bound: run it in a thread)."""
    if not data:
        raise InvalidField(EMPTY)
    if len(data) > MAX_BYTES:
        raise InvalidField(TOO_BIG)
    picture = _decode(data)
    small, large = (_square_webp(picture, side) for side in AVATAR_SIZES)
    digest = hashlib.sha256(f"{creator_id}\n".encode() + small + large).hexdigest()
    return Renditions(id=digest[:32], small=small, large=large)


async def prepare_upload(creator_id: int, data: bytes) -> Renditions:
    return await anyio.to_thread.run_sync(render_upload, creator_id, data)


async def store_avatar(creator_id: int, renditions: Renditions) -> CreatorRecord:
    """Show `renditions` as the creator's avatar, in place of any URL or earlier upload
    (whose rows the trigger deletes)."""
    # One statement: the image row and the creator's pointer to it are written together.
    rows = await Creator.raw(
        "WITH stored AS (INSERT INTO image (id, creator, small, large) "
        "VALUES ({}, {}, {}, {}) ON CONFLICT (id) DO NOTHING) "
        "UPDATE creator SET avatar_image = {}, avatar_url = '', updated_at = now() "
        "WHERE id = {} RETURNING *",
        renditions.id,
        creator_id,
        renditions.small,
        renditions.large,
        renditions.id,
        creator_id,
    )
    return CreatorRecord.from_row(rows[0])


async def remove_avatar(creator_id: int) -> CreatorRecord:
    """Back to the monogram: no upload and no URL."""
    rows = await Creator.raw(
        "UPDATE creator SET avatar_image = NULL, avatar_url = '', updated_at = now() "
        "WHERE id = {} RETURNING *",
        creator_id,
    )
    return CreatorRecord.from_row(rows[0])
