"""Fast lanes: the few answers that need nothing from the framework, sent before routing.

The hottest requests are answered from memory: a cached public page (app/profiles/cache.py)
and "nothing new" to a buyer's status poll (app/payments/polls.py), which PostgreSQL keeps
correct, and a link's click report (app/insights/fastlane.py), whose answer never changes.
Once such an answer is known, routing, dependencies, parameters and response objects add
nothing to it, so `LinkmintApp.__call__` asks each lane first, for a GET or a POST. Each lane
checks the method itself: the page and the poll answer only GETs, the click only POSTs.

A lane never invents a response head: it replays the head the app itself sent for the same
kind of answer (captured from the wire after every `before_send` hook, so the security
headers are exactly the slow path's), with only the fields that are the answer's own filled
in (a page's ETag and length), and until it has seen one, everything goes the whole way
through the app. A head that sets a cookie is never captured. Anything a lane is not sure
about (another method, a conditional request) goes through the app as usual. A lane never
reads a request's body.

A renderer is a lane that works its answer out, awaiting the database (the public page's
cache miss, rendered without the framework): asked once every lane has said it has no answer
from memory, under the same rules.

What a lane skips: the app-wide middleware and request hooks. `before_send` hooks are safe
(their headers are in the replayed head); a middleware is safe to skip only where someone has
said why with `@skipped_by_lanes("why")`. `LinkmintApp.open_lanes` refuses to open a lane
while an app-wide middleware or request hook lacks that mark, so a middleware added later
cannot be silently left out of the hottest answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import (
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

Head = list[tuple[bytes, bytes]]
# Set per routed request (app/web/request_id.py): never part of a replayed head.
REQUEST_ID_HEADER = b"x-request-id"
F = TypeVar("F", bound=Callable[..., Any])
SKIP_MARK = "skipped_by_lanes"
_ASKED = frozenset({"GET", "POST"})  # the methods lanes are asked about


def skipped_by_lanes(reason: str) -> Callable[[F], F]:
    """Mark an app-wide middleware as safe to leave out of fast-lane answers, and say why."""

    def mark(middleware: F) -> F:
        setattr(middleware, SKIP_MARK, reason)
        return middleware

    return mark


def unmarked(app: Litestar) -> list[str]:
    """The app-wide middleware and request hooks a lane would skip with nobody having said
    it is safe to."""
    found = [
        getattr(m, "__qualname__", repr(m))
        for m in app.middleware
        if not getattr(m, SKIP_MARK, None)
    ]
    hooks = ("before_request", "after_request", "after_response")
    found += [f"{name} hook" for name in hooks if getattr(app, name, None) is not None]
    return found


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    head: Head
    body: bytes = b""


class Lane(Protocol):
    def answer(self, scope: Scope) -> Answer | None:
        """The answer for this request (a GET or a POST: the lane checks which it answers),
        or None: let the app answer."""

    def observe(self, scope: Scope, send: Send) -> Send:
        """`send`, or a wrapper noting the head the app sends for a request of this lane."""


class Renderer(Protocol):
    async def render(self, scope: Scope) -> Answer | None:
        """An answer worked out now without the framework (a cache miss rendered), or None:
        let the app answer. Asked only once no lane had an answer from memory."""


class LinkmintApp(Litestar):
    """Litestar, asking its fast lanes before routing a GET or a POST (see the module
    docstring)."""

    lanes: Sequence[Lane] = ()
    renderers: Sequence[Renderer] = ()

    def open_lanes(self, *lanes: Lane, renderers: Sequence[Renderer] = ()) -> None:
        """Answer from `lanes` before routing, and then from `renderers`, once every app-wide
        middleware is known to be safe to skip (see the module docstring)."""
        if missing := unmarked(self):
            raise RuntimeError(
                "fast lanes would skip " + ", ".join(missing) + ": mark a middleware with "
                "@skipped_by_lanes('why') if the cached answers may go without it, or make "
                "the lanes do its work"
            )
        self.lanes = lanes
        self.renderers = renderers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == ScopeType.HTTP and scope["method"] in _ASKED and self.lanes:
            for lane in self.lanes:
                answer = lane.answer(scope)
                if answer is not None:
                    await send_whole(send, answer.status, answer.head, answer.body)
                    return
            for renderer in self.renderers:
                answer = await renderer.render(scope)
                if answer is not None:
                    await send_whole(send, answer.status, answer.head, answer.body)
                    return
            for lane in self.lanes:
                send = lane.observe(scope, send)
        await super().__call__(scope, receive, send)


async def send_whole(send: Send, status: int, head: Head, body: bytes) -> None:
    """A whole response, in its two ASGI messages."""
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": head,
    }
    await send(start)
    last: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(last)


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def capture(send: Send, keep: Callable[[int, Head], None]) -> Send:
    """`send`, handing the response head to `keep(status, headers)` unless it sets a cookie."""

    async def capturing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(name == b"set-cookie" for name, _ in headers):
                # An id names one routed request; replayed, it would name every hit.
                keep(message["status"], [h for h in headers if h[0] != REQUEST_ID_HEADER])
        await send(message)

    return capturing
