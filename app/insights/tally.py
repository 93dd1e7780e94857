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

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

MAX_KEYS = 50_000  # distinct raw combinations per flush interval
MAX_FIELD = 512  # characters kept of a user agent or referrer (longer ones are cut)


@dataclass(frozen=True, slots=True)
class Sighting:
    """One request's raw facts. `link_id` 0 is a page view; otherwise a click on that link."""

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
        self._counts: Counter[Sighting] = Counter()

    def __len__(self) -> int:
        return len(self._counts)

    def note(
        self,
        creator_id: int,
        *,
        link_id: int = 0,
        user_agent: str = "",
        referrer: str = "",
        country: str = "",
        session: str = "",
        today: date | None = None,
    ) -> None:
        day = today or datetime.now(UTC).date()
        sighting = Sighting(
            creator_id,
            day,
            link_id,
            user_agent[:MAX_FIELD],
            referrer[:MAX_FIELD],
            country[:2],
            session[:MAX_FIELD],
        )
        counts = self._counts
        if sighting not in counts and len(counts) >= self.max_keys:
            sighting = Sighting(creator_id, day, link_id)  # counted, without its details
        counts[sighting] += 1

    def take(self) -> Counter[Sighting]:
        """Everything counted so far; the tally starts again from zero."""
        taken, self._counts = self._counts, Counter()
        return taken

    def give_back(self, counts: Counter[Sighting]) -> None:
        """Counts a flush could not store: they go out with the next one."""
        self._counts.update(counts)
