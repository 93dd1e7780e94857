"""The status poll's fast lane: "nothing new" (204) sent before Litestar routes the request.

While a buyer waits for a payment, htmx polls `/unlocks/<id>/status` every second. When this
process's memory (app/payments/polls.py) says the unlock is still pending for this very
buyer, the answer is an empty 204 whose head is the same for every unlock and buyer: the one
the app itself sent for its first 204 (app/web/fastlane.py captures it). So `PollLane`
checks the buyer's signed cookie and the memory, and sends that head, before routing.
Anything else (no htmx, no or a forged cookie, an unlock it does not remember, the listener
down) goes through the app's status handler as usual.

The head is captured from a 204 that sets no cookie: the app's CSRF middleware offers a
token cookie to a client that has none, and such a head is not replayed to anyone. The
lane's 204 therefore offers none either, which changes nothing a buyer can see: a 204
carries no form, and the panel that replaces it when the unlock changes comes from the app,
cookie and all. (A buyer's browser normally has the cookie already: the premium fragment
with the Unlock form set it.)
"""

from __future__ import annotations

import re

from litestar.types import Scope, Send

from app.config import Settings
from app.payments.buyer import buyer_cookie_name, open_buyer
from app.payments.polls import PendingPolls
from app.web.fastlane import Answer, Head, capture, header

_STATUS_PATH = re.compile(r"/unlocks/([A-Za-z0-9_-]{16,32})/status")


def _cookie(scope: Scope, name: str) -> str | None:
    raw = header(scope, b"cookie")
    if raw is None:
        return None
    wanted = name.encode() + b"="
    for part in raw.split(b";"):
        part = part.strip()
        if part.startswith(wanted):
            return part[len(wanted) :].decode("latin-1")
    return None


class PollLane:
    def __init__(self, polls: PendingPolls, settings: Settings) -> None:
        self.polls = polls
        self.secret_key = settings.secret_key
        self.cookie_name = buyer_cookie_name(settings.secure_cookies)
        self.head: Head | None = None  # the app's own 204, once it has sent one

    def _unlock_id(self, scope: Scope) -> str | None:
        if scope.get("method") != "GET":  # lanes are asked about POSTs too
            return None
        match = _STATUS_PATH.fullmatch(scope["path"])
        if match is None or header(scope, b"hx-request") != b"true":
            return None
        return match[1]

    def answer(self, scope: Scope) -> Answer | None:
        if self.head is None or not self.polls.live:
            return None
        unlock_id = self._unlock_id(scope)
        if unlock_id is None:
            return None
        buyer = open_buyer(_cookie(scope, self.cookie_name), self.secret_key)
        if buyer is None or not self.polls.still_pending(unlock_id, buyer):
            return None
        return Answer(204, self.head)

    def observe(self, scope: Scope, send: Send) -> Send:
        if self.head is not None or self._unlock_id(scope) is None:
            return send

        def keep(status: int, headers: Head) -> None:
            if status == 204:
                self.head = headers

        return capture(send, keep)
