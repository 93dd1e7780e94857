"""The app the harness serves: Linkmint as `create_app(settings)` builds it, plus one
plain-text route, the baseline.

The baseline runs in the same server, the same workers and through the same middleware and
`before_send` hooks as the real pages, so the ratio page ÷ baseline measures what Linkmint's
own code costs on top of the framework and the server. Like the public page, the baseline
is exempt from CSRF (which would set a cookie on every anonymous GET).
"""

from __future__ import annotations

from litestar import Litestar, MediaType, Request, Response, get
from litestar.types import Scope, Send

from app.profiles.fastlane import PageLane
from app.web.fastlane import Answer

PLAINTEXT_PATH = "/_bench/plaintext"
PLAINTEXT_BODY = "Hello, World!"
UNCACHED_PATH = "/_bench/uncached"


@get(
    PLAINTEXT_PATH,
    media_type=MediaType.TEXT,
    sync_to_thread=False,
    include_in_schema=False,
    opt={"exclude_from_csrf": True},
)
def plaintext() -> str:
    return PLAINTEXT_BODY


@get(
    UNCACHED_PATH + "/{handle:str}",
    include_in_schema=False,
    opt={"exclude_from_csrf": True},
)
async def uncached_page(request: Request, handle: str) -> Response:
    """/{handle} rendered through the framework, never looking in or storing into the page
    cache: what `UncachedLane` falls back to until it has a page head to replay."""
    from app.profiles.controller import page_response

    entry = await request.app.state.page_renderer.render(handle)
    if entry is None:
        return Response("no such page", status_code=404, media_type=MediaType.TEXT)
    return page_response(entry, request, "bypass")


class UncachedLane:
    """/_bench/uncached/{handle} as the first view after an edit: the public page's own miss
    path (its fast lane's render, app/profiles/fastlane.py), never storing the page."""

    def __init__(self, pages: PageLane) -> None:
        self.pages = pages

    def answer(self, scope: Scope) -> None:
        return None

    async def render(self, scope: Scope) -> Answer | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or not path.startswith(UNCACHED_PATH + "/"):
            return None
        return await self.pages.miss(scope, path[len(UNCACHED_PATH) + 1 :], store=False)

    def observe(self, scope: Scope, send: Send) -> Send:
        if scope["path"].startswith(UNCACHED_PATH + "/"):
            return self.pages.capture_head(send)
        return send


def create_bench_app() -> Litestar:
    """The factory the benchmark server imports (`bench.app:create_bench_app`)."""
    from app.config import load_settings
    from app.main import create_app

    app = create_app(load_settings())
    app.register(plaintext)
    app.register(uncached_page)
    pages = next(lane for lane in app.lanes if isinstance(lane, PageLane))
    uncached = UncachedLane(pages)
    app.open_lanes(*app.lanes, uncached, renderers=(*app.renderers, uncached))
    return app
