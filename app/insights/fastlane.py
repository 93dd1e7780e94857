"""The click report's fast lane: `POST /_c/<creator>/<link>` counted and answered before
Litestar routes it.

The click endpoint (app/insights/controller.py) reads neither the body nor the database: it
notes the click in the process's tally and answers an empty 204 whose head is the same for
every click. So once the app itself has sent that 204 (app/web/fastlane.py captures its
head, after every hook), `ClickLane` does the same two things for a plain report: notes the
click through the same `Counting.note_click` (prefetches left out there, bots at the flush,
exactly as on the slow path) and replays that head.

A plain report is one the handler would count: both ids written as Litestar reads them and
`is_serial_id` accepts, in their one canonical spelling (no sign, no leading zero, no
trailing slash), and no query string. Anything else (`/_c/01/2`, `/_c/1/2/`, an id too
large to exist, a query with a NUL that the app refuses) goes the whole way through the
app, which answers it as it always has. Like the handler, the lane never reads the body, so
neither sets a limit on it or on its content type: a ping's body is `PING`, and what a client
sends instead is never looked at.
"""

from __future__ import annotations

import re

from litestar.types import Scope, Send

from app.db.tables import is_serial_id
from app.insights.counting import Counting
from app.web.fastlane import Answer, Head, capture

_CLICK_PATH = re.compile(r"/_c/([1-9][0-9]{0,9})/([1-9][0-9]{0,9})")


def _click(scope: Scope) -> tuple[int, int] | None:
    """(creator id, link id) of a plain click report, else None."""
    if scope.get("method") != "POST" or scope["query_string"]:
        return None
    match = _CLICK_PATH.fullmatch(scope["path"])
    if match is None:
        return None
    creator_id, link_id = int(match[1]), int(match[2])
    if not (is_serial_id(creator_id) and is_serial_id(link_id)):
        return None
    return creator_id, link_id


class ClickLane:
    def __init__(self, counting: Counting) -> None:
        self.counting = counting
        self.head: Head | None = None  # the app's own 204 to a click, once it has sent one

    def answer(self, scope: Scope) -> Answer | None:
        if self.head is None:
            return None
        click = _click(scope)
        if click is None:
            return None
        self.counting.note_click(scope, *click)
        return Answer(204, self.head)

    def observe(self, scope: Scope, send: Send) -> Send:
        if self.head is not None or _click(scope) is None:
            return send

        def keep(status: int, headers: Head) -> None:
            if status == 204:
                self.head = headers

        return capture(send, keep)
