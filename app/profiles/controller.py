"""The public page /{handle} and its accent stylesheet.

No session lookup and no CSRF cookie here: the page is the same for every visitor, so it
can be cached, and it carries nothing that would need either. It is cached (app/profiles/
cache.py) as final bytes per handle, so the page must never depend on anything in the
request but the handle, and this handler must never set a cookie.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, Response, get, head
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.db.outage import DatabaseUnavailable
from app.insights.counting import Counting
from app.profiles.cache import CachedPage, PageCache, adult_confirmed, page_key
from app.profiles.render import PageRenderer
from app.profiles.service import (
    accent_of,
    sensitive_link,
    theme_stylesheet,
    theme_version,
)
from app.shared.rules import InvalidField, canonical_handle, clean_handle
from app.web.compression import IDENTITY

YEAR = "public, max-age=31536000, immutable"
# Browsers and CDNs may keep the page but must ask again each time; the strong ETag makes
# that a 304 with no body while the page is unchanged.
REVALIDATE = "public, max-age=0, must-revalidate"


def _canonical(raw: str) -> str | None:
    try:
        return canonical_handle(raw)
    except InvalidField:
        return None


def _claimable(handle: str) -> bool:
    try:
        return clean_handle(handle) == handle
    except InvalidField:
        return False


class ProfileController(Controller):
    path = "/"
    include_in_schema = False
    opt = {"exclude_from_csrf": True}  # nothing here accepts a write

    @get("/{handle:str}", name="profiles:page", cache=False)
    async def page(self, request: Request[Any, Any, Any], handle: FromPath[str]) -> Response[Any]:
        return await _page(request, handle)

    @head("/{handle:str}", name="profiles:page-head", cache=False)
    async def page_head(
        self, request: Request[Any, Any, Any], handle: FromPath[str]
    ) -> Response[None]:
        """What GET would answer, without its body (link checkers and crawlers ask HEAD)."""
        answer = await _page(request, handle)
        headers = dict(answer.headers)
        if isinstance(answer.content, bytes) and answer.content:
            # The length GET would send: that of the variant this request accepts.
            headers["content-length"] = str(len(answer.content))
        if isinstance(answer, Redirect):
            headers["location"] = answer.url
        return Response(
            None, status_code=answer.status_code, headers=headers, media_type=MediaType.HTML
        )

    @get("/{handle:str}/go/{link_id:int}", name="profiles:sensitive_link", cache=False)
    async def sensitive_link_page(self, handle: FromPath[str], link_id: FromPath[int]) -> Template:
        """The warning before a link marked 18+ (its URL is not on the page itself)."""
        canonical = _canonical(handle)
        link = await sensitive_link(canonical, link_id) if canonical else None
        if canonical is None or link is None:
            return _not_found(handle, claimable=False)
        return Template(
            template_name="profiles/interstitial.html",
            context={"handle": canonical, "link": link},
            headers={"cache-control": "no-cache"},
        )

    @get("/{handle:str}/theme.css", name="profiles:theme", cache=False)
    async def theme(self, handle: FromPath[str], v: FromQuery[str] = "") -> Response[Any]:
        canonical = _canonical(handle)
        accent = await accent_of(canonical) if canonical else None
        if accent is None:
            return Response("/* no such page */\n", media_type="text/css", status_code=404)
        # A stale ?v= still gets the current colours, just not cached for long.
        cache = YEAR if v == theme_version(accent) else "public, max-age=60"
        return Response(
            theme_stylesheet(accent), media_type="text/css", headers={"cache-control": cache}
        )


async def _page(request: Request[Any, Any, Any], handle: str) -> Response[Any]:
    """The answer to GET /{handle}: the page (from the cache when it can), a redirect to the
    canonical handle, or not found."""
    canonical = _canonical(handle)
    if canonical is None:
        return _not_found(handle, claimable=False)
    if canonical != handle:
        # /Alice and /@alice are the same page as /alice; one URL keeps links and caches tidy.
        query = f"?{request.url.query}" if request.url.query else ""
        page_url = request.app.route_reverse("profiles:page", handle=canonical)
        return Redirect(page_url + query, status_code=301)
    cache: PageCache = request.app.state.page_cache
    confirmed = adult_confirmed(request.scope["query_string"])
    key = page_key(canonical, confirmed)  # an 18+ page and its interstitial: two entries
    entry = cache.get(key)
    outcome = "hit"
    if entry is None:
        generation = cache.generation  # read before loading: see PageCache.put
        try:
            renderer: PageRenderer = request.app.state.page_renderer
            entry = await renderer.render(canonical, confirmed)
        except DatabaseUnavailable:
            # The page as it last was beats an error page; a page never seen is a 503.
            entry = cache.last_known(key)
            if entry is None:
                raise
            return page_response(entry, request, "stale")
        if entry is None:
            return _not_found(canonical, claimable=_claimable(canonical))
        outcome = "miss" if cache.put(key, entry, generation) else "bypass"
    return page_response(entry, request, outcome)


def page_response(
    entry: CachedPage, request: Request[Any, Any, Any], outcome: str
) -> Response[Any]:
    """The variant of the page that `request` accepts (app/web/compression.py), or 304 when
    the request already holds that very variant. `outcome` goes out as X-Cache: hit, miss
    (rendered and stored), bypass (rendered, not stored: the listener is down, or a write
    raced with the render) or stale (the last known page: the database cannot be reached)."""
    if entry.counts_as_view and request.method == "GET":
        counting: Counting = request.app.state.counting
        counting.note_view(request.scope, entry.creator_id)
    cache: PageCache = request.app.state.page_cache
    variant = cache.variant(entry, request.headers.get("accept-encoding"))
    headers = {
        "cache-control": REVALIDATE,
        "etag": variant.etag,
        "vary": "accept-encoding",
        "x-cache": outcome,
    }
    if variant.matches(request.headers.get("if-none-match")):
        return Response(b"", status_code=304, headers=headers)
    if variant.coding != IDENTITY:
        headers["content-encoding"] = variant.coding
    return Response(variant.body, media_type=MediaType.HTML, headers=headers)


def _not_found(handle: str, *, claimable: bool) -> Template:
    return Template(
        template_name="profiles/not_found.html",
        context={"handle": handle[:40], "claimable": claimable},
        status_code=404,
        headers={"cache-control": "no-cache"},
    )
