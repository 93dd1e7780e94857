"""The app the harness serves: Linkmint as `create_app(settings)` builds it, plus one
plain-text route, the baseline.

The baseline runs in the same server, the same workers and through the same middleware and
`before_send` hooks as the real pages, so the ratio page ÷ baseline measures what Linkmint's
own code costs on top of the framework and the server. Like the public page, the baseline
is exempt from CSRF (which would set a cookie on every anonymous GET).
"""

from __future__ import annotations

from litestar import Litestar, MediaType, Request, Response, get

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
    """/{handle} as the first view after an edit renders it: the public page's own miss path
    (two queries and the template), never looking in or storing into the page cache."""
    from app.profiles.controller import page_response, render_page

    entry = await render_page(request, handle, request.app.state.settings.app_url)
    if entry is None:
        return Response("no such page", status_code=404, media_type=MediaType.TEXT)
    return page_response(entry, request, "bypass")


def create_bench_app() -> Litestar:
    """The factory the benchmark server imports (`bench.app:create_bench_app`)."""
    from app.config import load_settings
    from app.main import create_app

    app = create_app(load_settings())
    app.register(plaintext)
    app.register(uncached_page)
    return app
