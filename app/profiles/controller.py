"""The public page /{handle} and its accent stylesheet.

No session lookup and no CSRF cookie here: the page is the same for every visitor, so it
can be cached, and it carries nothing that would need either.
"""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.profiles.service import accent_of, public_page, theme_stylesheet, theme_version
from app.studio.rules import InvalidField, clean_handle
from app.web.deps import SettingsDep

YEAR = "public, max-age=31536000, immutable"


def _canonical(raw: str) -> str | None:
    try:
        return clean_handle(raw)
    except InvalidField:
        return None


class ProfileController(Controller):
    path = "/"
    include_in_schema = False
    opt = {"exclude_from_csrf": True}  # nothing here accepts a write

    @get("/{handle:str}", name="profiles:page", cache=False)
    async def page(
        self, request: Request, handle: FromPath[str], settings: SettingsDep
    ) -> Response:
        canonical = _canonical(handle)
        if canonical is None:
            return _not_found(handle, claimable=False)
        if canonical != handle:
            # /Alice and /@alice are the same page as /alice; one URL keeps links and caches tidy.
            query = f"?{request.url.query}" if request.url.query else ""
            return Redirect(f"/{canonical}{query}", status_code=301)
        page = await public_page(canonical)
        if page is None:
            return _not_found(canonical, claimable=True)
        return Template(
            template_name="profiles/page.html",
            context={"page": page, "page_url": f"{settings.app_url}/{page.handle}"},
            headers={"cache-control": "no-cache"},
        )

    @get("/{handle:str}/theme.css", name="profiles:theme", cache=False)
    async def theme(self, handle: FromPath[str], v: FromQuery[str] = "") -> Response:
        canonical = _canonical(handle)
        accent = await accent_of(canonical) if canonical else None
        if accent is None:
            return Response("/* no such page */\n", media_type="text/css", status_code=404)
        # A stale ?v= still gets the current colours, just not cached for long.
        cache = YEAR if v == theme_version(accent) else "public, max-age=60"
        return Response(
            theme_stylesheet(accent), media_type="text/css", headers={"cache-control": cache}
        )


def _not_found(handle: str, *, claimable: bool) -> Template:
    return Template(
        template_name="profiles/not_found.html",
        context={"handle": handle[:40], "claimable": claimable},
        status_code=404,
        headers={"cache-control": "no-cache"},
    )
