"""The public page's fast lane: /{handle} answered before Litestar routes the request.

A page is the same bytes for every visitor, and its response head differs from another
page's only in three fields: its ETag, its length and `x-cache`. So `PageLane` keeps, for each
content coding, the head the app itself last sent with a page (app/web/fastlane.py: captured
after every hook, so the security headers are exactly the slow path's), and answers a plain
GET (never another method) of `/<handle>` with that head, those three fields filled in:

- a cache hit (`answer`): the stored bytes of the variant the request's `Accept-Encoding` asks
  for, as the page handler would pick it;
- a cache miss (`render`): the page rendered now by the app's own renderer
  (app/profiles/render.py), stored as the handler stores it, and sent. A miss through the
  framework cost about as much again as rendering the page (routing, dependencies, the
  response object, the hooks); a large site's pages are mostly seen rarely, so most of its
  views are misses.

A view is noted in the process's insights tally (app/insights/counting.py: a few dictionary
updates, nothing awaited) as the handler notes it, unless the page is an 18+ page's
interstitial.

What still goes the whole way through the app: a conditional request (`If-None-Match`: the
handler answers 304), a handle that is not canonical (the handler redirects) or that nobody
owns (its 404 page), a path whose first segment is also the start of another route (the lane
could shadow it: only the handler's own paths are answered here), any render while the
listener is down, any failure other than the database being unreachable, and everything
until the app has sent a page in the coding asked for (the head to replay).
"""

from __future__ import annotations

from litestar import Litestar
from litestar.types import Scope, Send

from app.db.outage import DatabaseUnavailable
from app.insights.counting import Counting
from app.profiles.cache import CachedPage, PageCache, adult_confirmed, page_key
from app.profiles.render import PageRenderer
from app.shared.rules import InvalidField, canonical_handle
from app.web.compression import IDENTITY, PREFERENCE, Encoded, negotiate
from app.web.fastlane import Answer, Head, capture, header

# The fields of a page's head that are the page's own; the rest is the same for every page.
_OWN = (b"etag", b"content-length", b"x-cache")


def _accept_encoding(scope: Scope) -> str | None:
    value = header(scope, b"accept-encoding")
    return value.decode("latin-1") if value is not None else None


def _page_key(scope: Scope) -> str | None:
    """The cache key an unconditional GET of `/<handle>` would use, else None (the same key
    as the page handler's: an 18+ page's `?adult=1` is part of it). Lanes are asked about
    POSTs too: those are never a page."""
    if scope.get("method") != "GET":
        return None
    path: str = scope["path"]
    if path.count("/") != 1 or len(path) < 2 or header(scope, b"if-none-match") is not None:
        return None
    return page_key(path[1:], adult_confirmed(scope["query_string"]))


def first_segments(app: Litestar) -> frozenset[str]:
    """The first path segment of every route that starts with a fixed one (`dashboard`,
    `static`, …): a one-segment path among them may be routed elsewhere than to the page."""
    found = set()
    for route in app.routes:
        segment = route.path.split("/")[1] if route.path.count("/") else ""
        if segment and not segment.startswith("{"):
            found.add(segment)
    return frozenset(found)


def filled(template: Head, variant: Encoded, outcome: bytes) -> Head:
    """A page's head: `template` (another page's, in the same coding) with this variant's own
    ETag and length and this outcome as `x-cache`."""
    own = {
        b"etag": variant.etag.encode(),
        b"content-length": str(len(variant.body)).encode(),
        b"x-cache": outcome,
    }
    # The template's other pairs are shared, not copied: a cached page keeps its head.
    return [(pair[0], own[pair[0]]) if pair[0] in own else pair for pair in template]


class PageLane:
    def __init__(self, cache: PageCache, counting: Counting, renderer: PageRenderer) -> None:
        self.cache = cache
        self.counting = counting
        self.renderer = renderer
        # By coding sent: the last head the app sent with a page (see the module docstring).
        self.heads: dict[str, Head] = {}
        self._not_pages: frozenset[str] | None = None  # first_segments, once routes are known

    def answer(self, scope: Scope) -> Answer | None:
        key = _page_key(scope)
        entry = self.cache.get(key) if key is not None else None
        if entry is None:
            return None
        variant = self.cache.variant(entry, _accept_encoding(scope))
        head = entry.wire_headers.get(variant.coding)
        if head is None:
            template = self.heads.get(variant.coding)
            if template is None:
                return None
            head = entry.wire_headers[variant.coding] = filled(template, variant, b"hit")
        return self._view(scope, entry, head, variant)

    async def render(self, scope: Scope) -> Answer | None:
        """A miss: the page rendered and stored now, unless the app must answer (see the
        module docstring)."""
        key = _page_key(scope)
        if key is None or not self.cache.live or self.cache.get(key) is not None:
            return None  # (cached, but no head yet for this coding: the handler sends it)
        if negotiate(_accept_encoding(scope), PREFERENCE) not in self.heads:
            return None
        handle = scope["path"][1:]
        if not self._routed_to_page(handle):
            return None
        return await self.miss(scope, handle, store=True)

    async def miss(self, scope: Scope, handle: str, *, store: bool) -> Answer | None:
        """`handle`'s page rendered now and sent with a replayed head (`store`: kept in the
        cache, as the handler keeps it), or None: let the app answer."""
        confirmed = adult_confirmed(scope["query_string"])
        key = page_key(handle, confirmed)
        generation = self.cache.generation  # read before loading: see PageCache.put
        try:
            entry = await self.renderer.render(handle, confirmed)
        except DatabaseUnavailable:
            # As the handler does: the page as it last was beats an error page.
            entry = self.cache.last_known(key)
            return self._sent(scope, entry, b"stale") if entry is not None else None
        except Exception:  # noqa: BLE001 - the app answers (its error page, its log)
            return None
        if entry is None:
            return None  # nobody owns it: the handler's 404 page
        stored = store and self.cache.put(key, entry, generation)
        return self._sent(scope, entry, b"miss" if stored else b"bypass")

    def observe(self, scope: Scope, send: Send) -> Send:
        key = _page_key(scope)
        if key is None or not self._routed_to_page(scope["path"][1:]):
            return send
        return self.capture_head(send)

    def capture_head(self, send: Send) -> Send:
        """`send`, keeping the head of a page the app sends through it as the template for
        its coding."""

        def keep(status: int, headers: Head) -> None:
            names = {name for name, _ in headers}
            if status == 200 and names.issuperset(_OWN):
                coding = next((v for n, v in headers if n == b"content-encoding"), None)
                self.heads[coding.decode("latin-1") if coding else IDENTITY] = headers

        return capture(send, keep)

    def _routed_to_page(self, handle: str) -> bool:
        if self._not_pages is None:  # every route is registered before the first request
            self._not_pages = first_segments(self.renderer.app)
        if handle in self._not_pages:
            return False
        try:
            return canonical_handle(handle) == handle
        except InvalidField:
            return False

    def _sent(self, scope: Scope, entry: CachedPage, outcome: bytes) -> Answer | None:
        variant = self.cache.variant(entry, _accept_encoding(scope))
        template = self.heads.get(variant.coding)
        if template is None:
            return None
        return self._view(scope, entry, filled(template, variant, outcome), variant)

    def _view(self, scope: Scope, entry: CachedPage, head: Head, variant: Encoded) -> Answer:
        if entry.counts_as_view:
            self.counting.note_view(scope, entry.creator_id)
        return Answer(200, head, variant.body)
