"""The landing page, and the site icon browsers ask for."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import CacheControlHeader
from litestar.response import Template

from app.resources import STATIC
from app.web.deps import ViewerDep

FAVICON = (STATIC / "img" / "favicon.svg").read_bytes()


@get("/", name="home", cache=False, include_in_schema=False)
async def home(viewer: ViewerDep) -> Template:
    return Template(template_name="home.html", context={"creator": viewer})


@get(
    "/favicon.ico",
    name="favicon",
    include_in_schema=False,
    sync_to_thread=False,
    cache_control=CacheControlHeader(max_age=86400, public=True),
)
def favicon() -> Response[bytes]:
    """Browsers ask for /favicon.ico on every page that names no icon (the public page, the
    emulator's pages, a static file opened directly); a 404 there is a console error."""
    return Response(FAVICON, media_type="image/svg+xml")
