"""Rendering /{handle} from the database: what a page-cache miss does.

One renderer per app, used by the page handler (app/profiles/controller.py) and by the fast
lane (app/profiles/fastlane.py), which renders most misses itself, before routing: both must
make the very same bytes, so both call this.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar

from app.db.replica import ReplicaReads
from app.profiles.cache import CachedPage, PageCache
from app.profiles.service import public_page

PAGE = "profiles/page.html"
# An 18+ page: the warning until the visitor confirms, then the page with neutral metadata;
# both noindex, neither says anything a link preview could show.
INTERSTITIAL = "profiles/interstitial.html"
SENSITIVE_PAGE = "profiles/sensitive_page.html"


@dataclass(frozen=True, slots=True)
class _Routes:
    """What the page's templates may know of a request: the app, for `url_for`. Nothing of
    the request itself may shape a page that is cached for every visitor."""

    app: Litestar


class PageRenderer:
    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.cache: PageCache = app.state.page_cache
        self.app_url: str = app.state.settings.app_url
        # From the standby when one is configured and has replayed every change heard of
        # (app/db/replica.py): a page rendered from an older state would be cached.
        self.replica: ReplicaReads | None = app.state.replica_reads
        self._routes = _Routes(app)

    async def render(self, handle: str, confirmed: bool = False) -> CachedPage | None:
        """The page at /{handle} (a canonical handle) rendered now, or None: no such page.
        `confirmed`: the visitor chose Continue on an 18+ page's interstitial."""
        if self.replica is None:
            page = await public_page(handle)
        else:
            page = await self.replica.read(lambda engine: public_page(handle, engine=engine))
        if page is None:
            return None
        templates = self.app.template_engine
        assert templates is not None  # app/main.py always configures them
        template = PAGE
        if page.sensitive:
            template = SENSITIVE_PAGE if confirmed else INTERSTITIAL
        body = (
            templates.get_template(template)
            .render(page=page, page_url=f"{self.app_url}/{page.handle}", request=self._routes)
            .encode()
        )
        interstitial = page.sensitive and not confirmed
        return self.cache.page(
            page.creator_id, body, page.changes_in, counts_as_view=not interstitial
        )
