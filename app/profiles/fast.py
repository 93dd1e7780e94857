"""The fast lane for cached public pages: a hit answered before Litestar routes the request.

A cache hit needs nothing from the framework: no routing, no dependencies, no parameters, no
response object. So `LinkmintApp.__call__` looks the path up first and, for a stored page,
sends the stored bytes with the response head the app itself sent for that very entry the
first time (captured from the wire after every `before_send` hook, so the security headers
are exactly the slow path's; only `x-cache` says `hit`).

What still goes the whole way through the app: anything but a plain GET of `/<handle>`,
a conditional request (`If-None-Match`: the page handler answers 304), a page that is not
cached, or one whose head has not been captured yet. A path only becomes a cache key after
Litestar routed it to the page handler, so the lane can never shadow another route; and a
head that carries a cookie is never captured (the page must never set one).
"""

from __future__ import annotations

from litestar import Litestar
from litestar.types import Message, Receive, Scope, Send

from app.profiles.cache import PageCache


def _page_key(scope: Scope) -> str | None:
    """The cache key a plain, unconditional GET of `/<handle>` would use, else None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path: str = scope["path"]
    if path.count("/") != 1 or len(path) < 2:
        return None
    for name, _value in scope["headers"]:
        if name == b"if-none-match":
            return None
    return path[1:]


class LinkmintApp(Litestar):
    async def __call__(self, scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        key = _page_key(scope)
        if key is not None:
            cache: PageCache = self.state.page_cache
            entry = cache.get(key)
            if entry is not None and entry.wire_headers is not None:
                await send(
                    {"type": "http.response.start", "status": 200, "headers": entry.wire_headers}
                )
                await send({"type": "http.response.body", "body": entry.body, "more_body": False})
                return
            send = _capturing(cache, key, send)
        await super().__call__(scope, receive, send)


def _capturing(cache: PageCache, key: str, send: Send) -> Send:
    """`send`, noting the response head of a page the handler just stored or served."""

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 200:
            headers = list(message.get("headers", ()))
            etag = next((v for n, v in headers if n == b"etag"), None)
            entry = cache.get(key)
            cookie = any(n == b"set-cookie" for n, _ in headers)
            if entry is not None and etag == entry.etag.encode() and not cookie:
                entry.wire_headers = [(n, b"hit" if n == b"x-cache" else v) for n, v in headers]
        await send(message)

    return capture
