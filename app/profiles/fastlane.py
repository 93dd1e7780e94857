"""The public page's fast lane: a cached page sent before Litestar routes the request.

A cache hit needs nothing from the framework, so `PageLane` answers a plain GET of
`/<handle>` from the page cache with the stored bytes and the response head the app sent
for that very entry the first time (app/web/fastlane.py: captured after every hook, so the
security headers are exactly the slow path's; only `x-cache` says `hit`).

What still goes the whole way through the app: a conditional request (`If-None-Match`: the
page handler answers 304), a page that is not cached, or one whose head has not been
captured yet. A path only becomes a cache key after Litestar routed it to the page handler,
so the lane can never shadow another route.
"""

from __future__ import annotations

from litestar.types import Scope, Send

from app.profiles.cache import PageCache
from app.web.fastlane import Answer, capture, header


def _page_key(scope: Scope) -> str | None:
    """The cache key an unconditional GET of `/<handle>` would use, else None."""
    path: str = scope["path"]
    if path.count("/") != 1 or len(path) < 2 or header(scope, b"if-none-match") is not None:
        return None
    return path[1:]


class PageLane:
    def __init__(self, cache: PageCache) -> None:
        self.cache = cache

    def answer(self, scope: Scope) -> Answer | None:
        key = _page_key(scope)
        entry = self.cache.get(key) if key is not None else None
        if entry is None or entry.wire_headers is None:
            return None
        return Answer(200, entry.wire_headers, entry.body)

    def observe(self, scope: Scope, send: Send) -> Send:
        key = _page_key(scope)
        if key is None:
            return send

        def keep(status: int, headers: list[tuple[bytes, bytes]]) -> None:
            entry = self.cache.get(key)
            etag = next((v for n, v in headers if n == b"etag"), None)
            if status == 200 and entry is not None and etag == entry.etag.encode():
                entry.wire_headers = [(n, b"hit" if n == b"x-cache" else v) for n, v in headers]

        return capture(send, keep)
