"""Unlocks known to be still pending: the status poll's answer without a query.

A buyer back from checkout polls `/unlocks/<id>/status` every second until the payment is
confirmed; almost every poll finds nothing new. After a poll has read the unlock from the
database and found it pending, this process remembers that (per unlock: which buyer, which
link, until when it polls), and the next polls by the same buyer answer `204 No Content`
(htmx leaves the panel alone and keeps polling) without touching the database. What ends a
memory is a notification, so the first poll after a change reads the database again:

- `linkmint_unlock` (migration 2026-11-27T02:00) carries the link id of every unlock that
  was made, deleted, or changed status or owner: the buyer's answer may have changed;
- `linkmint_page` carries the creator id of every change to a creator or a link (the link
  was disabled, re-priced, deleted, or payouts were switched off).

As with the page cache (app/profiles/cache.py), nothing is remembered or answered while the
listener is down, the memory starts empty whenever it (re)connects, a read that raced with a
notification is not stored (`generation`), and entries end when the unlock stops polling
(its poll window) or after `ttl`, whichever is first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.db.notify import EVERYTHING, Listener
from app.payments.buyer import Buyer

UNLOCK_CHANNEL = "linkmint_unlock"
PAGE_CHANNEL = "linkmint_page"


@dataclass(frozen=True, slots=True)
class PendingPoll:
    link_id: int
    creator_id: int
    token_hash: str
    whop_user_ids: tuple[str, ...]
    until: float  # on the memory's clock (wall time: the poll window comes from the database)


class PendingPolls:
    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, PendingPoll] = {}
        self._by_link: dict[int, set[str]] = {}
        self._by_creator: dict[int, set[str]] = {}
        self.generation = 0  # bumped by every invalidation
        self.live = False
        self.listener: Listener | None = None
        self.channels: Mapping[str, Callable[[str], None]] = {
            UNLOCK_CHANNEL: self.link_changed,
            PAGE_CHANNEL: self.creator_changed,
        }

    def __len__(self) -> int:
        return len(self._entries)

    def still_pending(self, unlock_id: str, buyer: Buyer) -> bool:
        """True when this buyer's poll of `unlock_id` can be answered "nothing new"."""
        if not self.live:
            return False
        entry = self._entries.get(unlock_id)
        if entry is None:
            return False
        if entry.until <= self._clock():
            self._drop(unlock_id)
            return False
        return entry.token_hash == buyer.token_hash and entry.whop_user_ids == buyer.whop_user_ids

    def remember(
        self,
        unlock_id: str,
        *,
        link_id: int,
        creator_id: int,
        buyer: Buyer,
        polls_until: float,
        generation: int,
    ) -> bool:
        """Remember a pending unlock just read, unless the memory is down or something was
        invalidated since `generation` was read (the read may predate that change)."""
        until = min(polls_until, self._clock() + self.ttl)
        if not self.live or generation != self.generation or until <= self._clock():
            return False
        self._drop(unlock_id)
        self._entries[unlock_id] = PendingPoll(
            link_id, creator_id, buyer.token_hash, buyer.whop_user_ids, until
        )
        self._by_link.setdefault(link_id, set()).add(unlock_id)
        self._by_creator.setdefault(creator_id, set()).add(unlock_id)
        while len(self._entries) > self.max_entries:  # the oldest go first
            self._drop(next(iter(self._entries)))
        return True

    def link_changed(self, payload: str) -> None:
        self._invalidate(payload, self._by_link)

    def creator_changed(self, payload: str) -> None:
        self._invalidate(payload, self._by_creator)

    def _invalidate(self, payload: str, index: dict[int, set[str]]) -> None:
        self.generation += 1
        if payload == EVERYTHING:
            self.clear()
            return
        try:
            key = int(payload)
        except ValueError:
            self.clear()
            return
        for unlock_id in list(index.get(key, ())):
            self._drop(unlock_id)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_link.clear()
        self._by_creator.clear()

    def set_live(self, live: bool) -> None:
        self.clear()
        self.live = live

    def _drop(self, unlock_id: str) -> None:
        entry = self._entries.pop(unlock_id, None)
        if entry is None:
            return
        for index, key in ((self._by_link, entry.link_id), (self._by_creator, entry.creator_id)):
            ids = index.get(key)
            if ids is not None:
                ids.discard(unlock_id)
                if not ids:
                    del index[key]
