"""Sharing a creator's page: its address and its QR code, shown in the studio and
downloadable as SVG (for print) and PNG (for anything else).

The code encodes the page's absolute public address (the app's URL and the handle), always
dark on light with the four-module quiet zone the QR standard asks for: scanners need the
contrast and the margin whatever the studio's colour scheme.
"""

from __future__ import annotations

import io
from typing import Any, Literal

import segno
from litestar import Controller, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException

from app.auth.service import CreatorRecord
from app.web.deps import CreatorDep, SettingsDep

QUIET_ZONE = 4  # modules of light margin on each side (ISO/IEC 18004)
DARK, LIGHT = "#000000", "#ffffff"
PNG_SCALE = 12  # pixels per module: about 450 px for a short address
Kind = Literal["svg", "png"]
MEDIA_TYPES: dict[Kind, str] = {"svg": "image/svg+xml", "png": "image/png"}


def page_address(app_url: str, handle: str) -> str:
    return f"{app_url.rstrip('/')}/{handle}"


def page_qr(address: str) -> segno.QRCode:
    """A full QR code (never a Micro QR, which phone cameras do not read), error level M or
    better when the size allows."""
    return segno.make_qr(address, error="m")


def qr_file(address: str, kind: Kind) -> bytes:
    out = io.BytesIO()
    options: dict[str, Any] = {"border": QUIET_ZONE, "dark": DARK, "light": LIGHT}
    if kind == "png":
        options["scale"] = PNG_SCALE
    else:
        options.update(scale=10, title=f"QR code for {address}")
    page_qr(address).save(out, kind=kind, **options)
    return out.getvalue()


def _handle_of(creator: CreatorRecord) -> str:
    if not creator.handle:
        raise NotFoundException("Claim a handle first: a page without one has no address.")
    return creator.handle


def _qr(creator: CreatorRecord, app_url: str, kind: Kind, *, attachment: bool) -> Response[bytes]:
    handle = _handle_of(creator)
    headers = {}
    if attachment:
        headers["content-disposition"] = f'attachment; filename="linkmint-{handle}.{kind}"'
    return Response(
        qr_file(page_address(app_url, handle), kind),
        media_type=MEDIA_TYPES[kind],
        headers=headers,
    )


class ShareController(Controller):
    path = "/dashboard/share"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)  # signed-in: never kept by any cache

    @get("/qr.svg", name="studio:qr_image")
    async def qr_image(self, creator: CreatorDep, settings: SettingsDep) -> Response[bytes]:
        """The code as the studio's share card shows it."""
        return _qr(creator, settings.app_url, "svg", attachment=False)

    @get("/download.svg", name="studio:qr_svg")
    async def qr_svg(self, creator: CreatorDep, settings: SettingsDep) -> Response[bytes]:
        return _qr(creator, settings.app_url, "svg", attachment=True)

    @get("/download.png", name="studio:qr_png")
    async def qr_png(self, creator: CreatorDep, settings: SettingsDep) -> Response[bytes]:
        return _qr(creator, settings.app_url, "png", attachment=True)
