"""Fast lanes: the few answers that need nothing from the framework, sent before routing.

The hottest requests are answered from memory that PostgreSQL keeps correct: a cached public
page (app/profiles/cache.py) and "nothing new" to a buyer's status poll (app/payments/
polls.py). Once such an answer is known, routing, dependencies, parameters and response
objects add nothing to it, so `LinkmintApp.__call__` asks each lane first.

A lane never invents a response head: it replays the head the app itself sent for the same
kind of answer (captured from the wire after every `before_send` hook, so the security
headers are exactly the slow path's), and until it has seen one, everything goes the whole
way through the app. A head that sets a cookie is never captured. Anything a lane is not
sure about (another method, a conditional request, a miss) goes through the app as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from litestar import Litestar
from litestar.types import Message, Receive, Scope, Send

Head = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    head: Head
    body: bytes = b""


class Lane(Protocol):
    def answer(self, scope: Scope) -> Answer | None:
        """The answer for this plain GET, or None: let the app answer."""

    def observe(self, scope: Scope, send: Send) -> Send:
        """`send`, or a wrapper noting the head the app sends for a request of this lane."""


class LinkmintApp(Litestar):
    """Litestar, asking its fast lanes before routing a GET (see the module docstring)."""

    lanes: Sequence[Lane] = ()

    async def __call__(self, scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == "http" and scope["method"] == "GET" and self.lanes:
            for lane in self.lanes:
                answer = lane.answer(scope)
                if answer is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": answer.status,
                            "headers": answer.head,
                        }
                    )
                    await send({"type": "http.response.body", "body": answer.body})
                    return
            for lane in self.lanes:
                send = lane.observe(scope, send)
        await super().__call__(scope, receive, send)


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def capture(send: Send, keep) -> Send:
    """`send`, handing the response head to `keep(status, headers)` unless it sets a cookie."""

    async def capturing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(name == b"set-cookie" for name, _ in headers):
                keep(message["status"], headers)
        await send(message)

    return capturing
