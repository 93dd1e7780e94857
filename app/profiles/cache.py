"""The rendered public-page cache: per process, invalidated across processes by PostgreSQL.

`/{handle}` is the same HTML for every visitor (premium links fetch their private state from
`/u/<id>` afterwards), so each process keeps the final bytes per handle. Correctness across
processes comes from the database: a trigger on `creator` and `link` (migration
2026-11-27T00:40) NOTIFYs `linkmint_page` with the creator's id at every commit that touches
them, and each process's one LISTEN connection (app/db/notify.py) passes it on.

The rules that keep it from ever serving a stale page while the database is up:
- The cache is *live* only while the listener is connected. While it is down (and until it
  has reconnected and said LISTEN) every request renders fresh, and nothing stored before
  it went down, or before it came back, is served fresh again (notifications may have been
  missed).
- A render that raced with an invalidation is not stored: `put` takes the `generation` read
  before the page was loaded and refuses it if any invalidation arrived since.
- Entries are fresh for `ttl` seconds, or less: until the next start or end of a scheduled
  link (the page changes then without any write).
- The number of entries and the bytes they keep are both bounded (least recently used goes
  first): a count alone would let a few thousand of the largest pages (200 links each) take
  a gigabyte per process.

And one exception, for when the database cannot be reached at all: `last_known(handle)` is
the last page rendered for that handle, however old (an invalidation still removes it:
those bytes are known to be wrong). The page handler serves it, marked `x-cache: stale`,
only when rendering fresh fails because the database is unreachable — a visitor gets the
page as it was rather than an error, for as long as the outage lasts.

A stored page is also kept compressed (app/web/compression.py), in each coding once some
request has asked for it: the first request that accepts brotli (or only gzip) compresses the
page once, and every later one is sent those bytes (`variant`). A page re-rendered with the
same bytes (after its TTL) takes over the copies of the entry it replaces. Most pages of a
large site are seen rarely, and a page seen once needs only the one coding its visitor asked
for, not all of them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from app.db.notify import Listener
from app.web.compression import (
    IDENTITY,
    PAGE_BROTLI_QUALITY,
    PREFERENCE,
    Encoded,
    encode,
    etag_of,
    negotiate,
)
from app.web.fastlane import Head

CHANNEL = "linkmint_page"
# The query that asks for an 18+ page itself rather than its interstitial (docs/design.md,
# "Sensitive content"): its own cache key, so neither answer is ever served for the other.
ADULT_QUERY = ("adult", "1")


def adult_confirmed(query_string: bytes) -> bool:
    """Whether the visitor chose Continue on an 18+ page's interstitial (`?adult=1`)."""
    return ADULT_QUERY in parse_qsl(query_string.decode("latin-1"))


def page_key(handle: str, confirmed: bool) -> str:
    """The cache key of /{handle}: the handle, or for a confirmed visitor a key no handle
    can be (a handle has no `?`)."""
    return f"{handle}?adult=1" if confirmed else handle


@dataclass(slots=True)
class CachedPage:
    creator_id: int
    # By coding asked for: identity from the start, others once a request has asked for them
    # (`PageCache.variant`); a coding that would not save a tenth maps to the identity.
    variants: dict[str, Encoded]
    expires_at: float  # on the cache's clock
    epoch: int = -1  # the listener connection it was stored under; served fresh only under it
    # By coding, the response head as the app sends that variant of this page (after every
    # hook: security headers included), with `x-cache: hit`; set once each, by
    # app/profiles/fastlane.py.
    wire_headers: dict[str, Head] = field(default_factory=dict)
    # Whether showing it is a view of the creator's page, for their insights (an 18+ page's
    # interstitial is not: the page itself, once the visitor continues, is).
    counts_as_view: bool = True
    held: bool = False  # in the cache now: its bytes count towards the cache's bound

    @property
    def body(self) -> bytes:
        return self.variants[IDENTITY].body

    @property
    def etag(self) -> str:
        return self.variants[IDENTITY].etag


# The bytes a process keeps of its cached pages (every variant's body): about 6,000 pages of
# a dozen links (8 KB each with their gzip and brotli copies), fewer of the largest.
MAX_BYTES = 48 * 1024 * 1024


def _size(entry: CachedPage) -> int:
    return sum(len(v.body) for coding, v in entry.variants.items() if v.coding == coding)


class PageCache:
    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = MAX_BYTES,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0  # kept by the entries' variants
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, CachedPage] = OrderedDict()
        self._handles_of: dict[int, set[str]] = {}
        self.generation = 0  # bumped by every invalidation
        self.live = False  # the listener is connected: entries may be served fresh
        self._epoch = 0  # bumped when the listener comes or goes
        self.listener: Listener | None = None
        self.channels: Mapping[str, Callable[[str], None]] = {CHANNEL: self.invalidate}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, handle: str) -> CachedPage | None:
        """The page to serve as fresh, or None: render it."""
        if not self.live:
            return None
        entry = self._entries.get(handle)
        if entry is None or entry.epoch != self._epoch or entry.expires_at <= self._clock():
            return None
        self._entries.move_to_end(handle)
        return entry

    def last_known(self, handle: str) -> CachedPage | None:
        """The last page rendered for `handle`, however old: only for when the database
        cannot be reached."""
        entry = self._entries.get(handle)
        if entry is not None:
            self._entries.move_to_end(handle)
        return entry

    def page(
        self, creator_id: int, body: bytes, fresh_for: float | None, *, counts_as_view: bool = True
    ) -> CachedPage:
        """An entry for a page just rendered; `fresh_for` is the time to its next schedule
        boundary in seconds (None: no scheduled link ahead)."""
        lifetime = self.ttl if fresh_for is None else min(self.ttl, fresh_for)
        identity = Encoded(IDENTITY, body, etag_of(body))
        return CachedPage(
            creator_id,
            {IDENTITY: identity},
            self._clock() + lifetime,
            counts_as_view=counts_as_view,
        )

    def put(self, handle: str, entry: CachedPage, generation: int) -> bool:
        """Keep `entry` unless something was invalidated since `generation` was read (the
        page may have been loaded before that write). True: it will be served fresh; False:
        the listener is down or the page changes now, so it is only the last known page."""
        if generation != self.generation:
            return False
        entry.epoch = self._epoch
        previous = self._entries.get(handle)
        if previous is not None and previous.etag == entry.etag:
            entry.variants = previous.variants
        self._drop(handle)
        self._entries[handle] = entry
        entry.held = True
        self.bytes += _size(entry)
        self._handles_of.setdefault(entry.creator_id, set()).add(handle)
        self._bound()
        return self.live and entry.expires_at > self._clock()

    def variant(self, entry: CachedPage, accept_encoding: str | None) -> Encoded:
        """The variant of `entry` to send to a request with this `Accept-Encoding`, made now
        if no request has asked for that coding before."""
        coding = negotiate(accept_encoding, PREFERENCE)
        made = entry.variants.get(coding)
        if made is None:
            identity = entry.variants[IDENTITY]
            made = entry.variants[coding] = encode(
                identity, coding, brotli_quality=PAGE_BROTLI_QUALITY
            )
            if entry.held and made is not identity:
                self.bytes += len(made.body)
                self._bound()
        return made

    def _bound(self) -> None:
        """Drop the least recently used entries until both bounds hold (never the last one)."""
        while len(self._entries) > self.max_entries or (
            self.bytes > self.max_bytes and len(self._entries) > 1
        ):
            self._drop(next(iter(self._entries)))

    def invalidate(self, payload: str) -> None:
        """A notification: a creator's id, or anything else (`*`) for everything."""
        self.generation += 1
        try:
            creator_id = int(payload)
        except ValueError:
            self.clear()
            return
        for handle in self._handles_of.pop(creator_id, ()):
            entry = self._entries.pop(handle, None)
            if entry is not None:
                entry.held = False
                self.bytes -= _size(entry)

    def clear(self) -> None:
        self.generation += 1
        for entry in self._entries.values():
            entry.held = False
        self._entries.clear()
        self._handles_of.clear()
        self.bytes = 0

    def set_live(self, live: bool) -> None:
        # Going down: nothing is known; coming up: notifications were missed. Either way no
        # entry kept so far is fresh, but each stays the last known page of its handle.
        self.generation += 1
        self._epoch += 1
        self.live = live

    def _drop(self, handle: str) -> None:
        entry = self._entries.pop(handle, None)
        if entry is not None:
            entry.held = False
            self.bytes -= _size(entry)
            handles = self._handles_of.get(entry.creator_id)
            if handles is not None:
                handles.discard(handle)
                if not handles:
                    del self._handles_of[entry.creator_id]
