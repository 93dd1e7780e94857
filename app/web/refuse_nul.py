"""No NUL character reaches a handler: PostgreSQL cannot store one in text, and a handler
that passes one to a query (an id in the path, a search term) fails with a 500.

A request whose path or query carries one, raw or percent-encoded (once, or twice: the path
is decoded again for its parameters), is refused here with a 400. Forms and JSON bodies are
the handlers' to check, since they check every field anyway.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.types import ASGIApp, Receive, Scope, Send

from app.web.fastlane import skipped_by_lanes


def carries_nul(scope: Scope) -> bool:
    path: str = scope["path"]
    query: bytes = scope.get("query_string", b"")
    return "\x00" in path or "%00" in path or b"%00" in query or b"\x00" in query


@skipped_by_lanes(
    "a lane answers only paths without a NUL (a cached page's, a poll's, a click's digits),"
    " and nothing it reads reaches PostgreSQL"
)
def refuse_nul(app: ASGIApp) -> ASGIApp:
    async def refusing(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and carries_nul(scope):
            raise ClientException("A web address cannot contain a NUL character (%00).")
        await app(scope, receive, send)

    return refusing
