"""Counting on the request path: a few dictionary updates, nothing parsed, nothing awaited.

A view or a click is noted with the raw facts the request brought (its `User-Agent`, its
`Referer`, a trusted proxy's country, whether it carried a session cookie), keyed by UTC day.
Everything that costs time — recognising bots, reading browser and device from the user
agent, reducing a referrer to its domain, telling the creator's own views apart — happens
when the tally is flushed (app/insights/flush.py), once per distinct value, off the path
that answers the visitor.

Nothing here is kept longer than one flush interval, and nothing of it is ever written: the
flush stores counts per day and dimension, never an address, a cookie or a user agent.

Memory is bounded whatever a client sends: past `MAX_KEYS` distinct combinations in one
interval, further requests are counted without their details (as "unknown" referrer,
browser and device), so a flood of made-up user agents costs a counter, not a key each.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime
from time import time
from typing import NamedTuple

MAX_KEYS = 50_000  # distinct raw combinations per flush interval
MAX_FIELD = 512  # characters kept of a user agent or referrer (longer ones are cut)
DAY_SECONDS = 86_400  # a UTC day in Unix time, which has no leap seconds


class Sighting(NamedTuple):
    """One request's raw facts. `link_id` 0 is a page view; otherwise a click on that link.

    A tuple, so that counting one is a dictionary update done in C: hashing and comparing a
    dataclass instead cost several times as much per request."""

    creator_id: int
    day: date
    link_id: int = 0
    user_agent: str = ""
    referrer: str = ""
    country: str = ""
    session: str = ""  # the session cookie's value, to leave out the creator's own views


class Tally:
    """The counts of one process since its last flush."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        # Keyed by plain tuples equal to the `Sighting` they stand for (`take` names them).
        self._counts: dict[tuple[int, date, int, str, str, str, str], int] = {}
        self._today = date.min
        self._tomorrow = 0.0  # when `_today` ends, in Unix time
        # Flushes whose answer was lost, with their tokens: the next flush settles them
        # (app/insights/flush.py).
        self.unsettled: list[tuple[uuid.UUID, Counter[Sighting]]] = []

    def __len__(self) -> int:
        return len(self._counts)

    def _day(self) -> date:
        now = time()
        if now >= self._tomorrow:
            self._today = datetime.fromtimestamp(now, UTC).date()
            self._tomorrow = (now // DAY_SECONDS + 1) * DAY_SECONDS
        return self._today

    def note(
        self,
        creator_id: int,
        link_id: int = 0,
        user_agent: str = "",
        referrer: str = "",
        country: str = "",
        session: str = "",
        today: date | None = None,
    ) -> None:
        day = today or self._day()
        key = (
            creator_id,
            day,
            link_id,
            user_agent[:MAX_FIELD],
            referrer[:MAX_FIELD],
            country[:2],
            session[:MAX_FIELD],
        )
        counts = self._counts
        seen = counts.get(key)
        if seen is None:
            seen = 0
            if len(counts) >= self.max_keys:
                key = (creator_id, day, link_id, "", "", "", "")  # counted, without its details
                seen = counts.get(key, 0)
        counts[key] = seen + 1

    def take(self) -> Counter[Sighting]:
        """Everything counted so far; the tally starts again from zero."""
        taken, self._counts = self._counts, {}
        return Counter({Sighting._make(key): n for key, n in taken.items()})

    def give_back(self, counts: Counter[Sighting]) -> None:
        """Counts a flush could not store: they go out with the next one."""
        mine = self._counts
        for key, n in counts.items():
            mine[key] = mine.get(key, 0) + n
