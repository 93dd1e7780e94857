"""The public page's fast lane: a cached page sent before Litestar routes the request.

A cache hit needs nothing from the framework, so `PageLane` answers a plain GET of
`/<handle>` from the page cache with the stored bytes and the response head the app sent
for that very entry the first time (app/web/fastlane.py: captured after every hook, so the
security headers are exactly the slow path's; only `x-cache` says `hit`). Each content
coding of a page is its own answer with its own head: the lane picks the variant the
request's `Accept-Encoding` asks for, as the page handler would, and replays the head
captured for that variant (`content-encoding`, its ETag and length), or lets the app answer
while it has none yet.

A hit is a view of the page like any other: the lane notes it in the process's insights
tally (app/insights/counting.py: a few dictionary updates, nothing awaited) before it
answers, unless the entry is an 18+ page's interstitial.

What still goes the whole way through the app: a conditional request (`If-None-Match`: the
page handler answers 304), a page that is not cached, or one whose head has not been
captured yet. A path only becomes a cache key after Litestar routed it to the page handler,
so the lane can never shadow another route.
"""

from __future__ import annotations

from litestar.types import Scope, Send

from app.insights.counting import Counting
from app.profiles.cache import PageCache, adult_confirmed, page_key
from app.web.fastlane import Answer, capture, header


def _accept_encoding(scope: Scope) -> str | None:
    value = header(scope, b"accept-encoding")
    return value.decode("latin-1") if value is not None else None


def _page_key(scope: Scope) -> str | None:
    """The cache key an unconditional GET of `/<handle>` would use, else None (the same key
    as the page handler's: an 18+ page's `?adult=1` is part of it)."""
    path: str = scope["path"]
    if path.count("/") != 1 or len(path) < 2 or header(scope, b"if-none-match") is not None:
        return None
    return page_key(path[1:], adult_confirmed(scope["query_string"]))


class PageLane:
    def __init__(self, cache: PageCache, counting: Counting) -> None:
        self.cache = cache
        self.counting = counting

    def answer(self, scope: Scope) -> Answer | None:
        key = _page_key(scope)
        entry = self.cache.get(key) if key is not None else None
        if entry is None:
            return None
        variant = entry.variant(_accept_encoding(scope))
        head = entry.wire_headers.get(variant.coding)
        if head is None:
            return None
        if entry.counts_as_view:
            self.counting.note_view(scope, entry.creator_id)
        return Answer(200, head, variant.body)

    def observe(self, scope: Scope, send: Send) -> Send:
        key = _page_key(scope)
        if key is None:
            return send

        def keep(status: int, headers: list[tuple[bytes, bytes]]) -> None:
            entry = self.cache.get(key)
            if status != 200 or entry is None:
                return
            etag = next((v for n, v in headers if n == b"etag"), None)
            for variant in entry.variants.values():
                if etag == variant.etag.encode():
                    entry.wire_headers[variant.coding] = [
                        (n, b"hit" if n == b"x-cache" else v) for n, v in headers
                    ]

        return capture(send, keep)
