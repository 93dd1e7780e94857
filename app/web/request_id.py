"""A request id for every request the app routes: in its log lines and its `x-request-id`.

Generated here, never taken from the request: an id a client chose could collide with
another's on purpose, or carry text into the logs. The public page's fast lane answers
before routing and logs nothing, so it gets none (nor the cost of one).
"""

from __future__ import annotations

import secrets

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import REQUEST_ID
from app.web.fastlane import REQUEST_ID_HEADER as HEADER
from app.web.fastlane import skipped_by_lanes


@skipped_by_lanes("a lane logs nothing, so its answer needs no id (`capture` drops it)")
def request_ids(app: ASGIApp) -> ASGIApp:
    async def with_request_id(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        token = REQUEST_ID.set(request_id)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            REQUEST_ID.reset(token)

    return with_request_id
