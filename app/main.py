"""`create_app(settings)`: the one place that wires Linkmint together."""

from __future__ import annotations

import importlib
import logging
from urllib.parse import urlsplit

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.logging import LoggingConfig
from litestar.plugins.htmx import HTMXPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from app.auth.guards import current_creator, signed_in_creator
from app.config import Settings, load_settings
from app.db.engine import app_engine, make_replica_engine, pool_lifespan
from app.db.outage import DatabaseUnavailable
from app.logs import RepeatedFailures, RequestIds, formatter_config
from app.ops.csp_report import CSP_REPORT_PATH, csp_report
from app.ops.health import healthz, readyz
from app.ops.metrics import metrics
from app.resources import STATIC
from app.web.errors import database_unavailable, html_error
from app.web.headers import security_headers_hook
from app.web.home import favicon, home
from app.web.refuse_nul import refuse_nul
from app.web.request_id import request_ids
from app.web.templating import template_config
from app.whop import provide_whop, whop_lifespan

log = logging.getLogger("app")


def _listen_dsn() -> str | None:
    return app_engine().direct_dsn  # LISTEN lives on a session: never through a pooler


# The modules whose `@handles(...)` register each room's webhook handlers (app/whop/
# events.py). Whatever processes stored events imports them first: an event whose handler
# was never registered would be marked processed as "ignored".
WEBHOOK_HANDLERS = ("app.payments.events", "app.payouts.service")


def register_webhook_handlers() -> None:
    for module in WEBHOOK_HANDLERS:
        importlib.import_module(module)


def create_app(settings: Settings | None = None, *, caches: bool | None = None) -> Litestar:
    """`caches`: keep rendered public pages (app/profiles/cache.py) and pending unlock polls
    (app/payments/polls.py) in memory. Default: on when the app has a connection pool
    (production, `linkmint serve`, the bench); off for the in-process test client, whose
    tests write to the database and read back at once, sooner than an invalidation travels
    through LISTEN/NOTIFY."""
    settings = settings or load_settings()
    register_webhook_handlers()
    from app.auth.access_log import redact_access_log
    from app.auth.controller import AuthController
    from app.auth.origin import same_origin_writes
    from app.auth.purge import purge_lifespan
    from app.auth.sessions import cookie_name
    from app.db.notify import Subscriber, listener_lifespan
    from app.db.replica import ReplicaReads
    from app.insights.controller import InsightsController, click
    from app.insights.counting import Counting
    from app.insights.fastlane import ClickLane
    from app.insights.retention import retention_lifespan
    from app.payments.buyer import ROUTES as BUYER_ROUTES
    from app.payments.controller import ROUTES as PAYMENT_ROUTES
    from app.payments.fastlane import PollLane
    from app.payments.inbox import InboxWorkers
    from app.payments.polls import PendingPolls
    from app.payments.reconcile import SweepOptions, maintenance_lifespan
    from app.payouts.controller import PayoutsController
    from app.payouts.dashboard import PayoutDashboardController
    from app.profiles.cache import CHANNEL as PAGE_CHANNEL
    from app.profiles.cache import PageCache
    from app.profiles.controller import ProfileController
    from app.profiles.fastlane import PageLane
    from app.profiles.media import MediaController
    from app.profiles.render import PageRenderer
    from app.studio.avatar import AvatarController
    from app.studio.controller import StudioController
    from app.studio.currency import CurrencyController
    from app.studio.share import ShareController
    from app.studio.socials import SocialsController
    from app.studio.transfer import TransferController
    from app.web.assets import StaticAssets
    from app.web.fastlane import LinkmintApp

    year = CacheControlHeader(max_age=31536000, public=True)
    assets = StaticAssets(STATIC, "/static/", year.to_header())  # app/web/assets.py
    route_handlers: list[ControllerRouterHandler] = [
        healthz,
        readyz,
        home,
        favicon,
        AuthController,
        StudioController,
        InsightsController,  # /dashboard/insights and its CSV
        click,  # POST /_c/{creator}/{link}: a link's ping
        CurrencyController,  # the selling currency: /dashboard/currency
        SocialsController,  # the social icons card: /dashboard/socials
        AvatarController,  # the profile photo: /dashboard/avatar
        MediaController,  # uploaded avatars: /media/…
        TransferController,  # /dashboard/export.json, /dashboard/import/…, /dashboard/earnings.csv
        ShareController,
        PayoutDashboardController,
        csp_report,
        PayoutsController,
        *PAYMENT_ROUTES,
        metrics,
        *BUYER_ROUTES,  # "Forget this browser"
        create_static_files_router(
            path="/static",
            directories=[STATIC],
            name="static",
            include_in_schema=False,
            cache_control=year,
            middleware=[assets.middleware()],  # CSS and JavaScript: compressed once
        ),
        ProfileController,  # last: /{handle} must not shadow the routes above
    ]
    redact_access_log()  # /auth/callback's request line carries Whop's code
    # One log line per kind of failure, then a count (app/logs.py).
    repeats = RepeatedFailures(window=settings.log_repeat_window)
    lifespans = [repeats.lifespan(), pool_lifespan(settings), whop_lifespan(settings)]
    lifespans.append(assets.lifespan())  # compresses them, in a thread of its own
    if settings.emulator_enabled:  # on a loopback APP_URL, or WHOP_EMULATOR=1 (app/config.py)
        from app.emulator import emulator_lifespan, emulator_router

        route_handlers.insert(0, emulator_router(settings))
        lifespans.append(emulator_lifespan(settings))
    # Processes the webhook events this process stores, as soon as they are answered.
    inbox = InboxWorkers(
        concurrency=settings.inbox_workers,
        batch=settings.inbox_batch,
        whop_reads=settings.inbox_whop_reads,
    )
    lifespans.append(inbox.lifespan())
    # About once a minute: drains what the workers left in the inbox, reads Whop's records of
    # the selling companies back (app/payments/sweep.py), expires unpaid unlocks, and once a
    # day audits the previous day's payments (app/payments/audit.py).
    period = settings.maintenance_seconds
    sweep_options = SweepOptions.from_settings(settings)
    lifespans.append(maintenance_lifespan(period, sweep_options=sweep_options))
    lifespans.append(purge_lifespan(period))  # ended sessions, stale pending sign-ins
    # Daily Insights counts older than the page shows, folded into monthly ones.
    lifespans.append(retention_lifespan(period, settings.insights_daily_retention_days))
    # Views and clicks, counted in memory and flushed every few seconds (app/insights).
    counting = Counting(
        own_host=urlsplit(settings.app_url).hostname or "",
        session_cookies=(cookie_name(settings.secure_cookies),),
        country_header=settings.country_header,
    )
    lifespans.append(counting.lifespan(settings.insights_flush_seconds))
    # In-memory answers that PostgreSQL invalidates; both serve nothing until the listener
    # is up (app/db/notify.py), except the last known pages while the database is unreachable.
    pages, polls = PageCache(ttl=settings.page_cache_ttl), PendingPolls()
    if caches is None:
        caches = settings.db_pool_size > 0
    # Public pages read from a standby (DATABASE_REPLICA_URL) only with the listener: what
    # keeps a lagging standby's page out of the cache follows the same notifications.
    replica_reads: ReplicaReads | None = None
    if caches:
        replica = make_replica_engine(settings)
        if replica is not None:
            replica_reads = ReplicaReads(app_engine(), replica, [PAGE_CHANNEL])
            lifespans += [pool_lifespan(settings, replica), replica_reads.lifespan()]
        subscribers: list[Subscriber] = [pages, polls]
        if replica_reads is not None:
            subscribers.append(replica_reads)
        lifespans.append(listener_lifespan(subscribers, _listen_dsn))

    app = LinkmintApp(  # Litestar, asking its fast lanes first (app/web/fastlane.py)
        route_handlers=route_handlers,
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "viewer": Provide(current_creator),
            "creator": Provide(signed_in_creator),
            "whop": Provide(provide_whop, sync_to_thread=False),  # whop: WhopDep
        },
        state=State(
            {
                "settings": settings,
                "page_cache": pages,
                "replica_reads": replica_reads,  # None: every read from DATABASE_URL
                "pending_polls": polls,
                "inbox": inbox,
                "counting": counting,
            }
        ),
        template_config=template_config(settings),
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            # __Host- over https: Secure, Path=/ and no Domain, so no sibling host can plant one.
            cookie_name="__Host-lm_csrf" if settings.secure_cookies else "lm_csrf",
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,  # htmx gets the token from the page, never from the cookie
            cookie_samesite="lax",
            # no token cookie on assets; browsers post CSP reports without one
            exclude=["/_whop", "/webhooks/", "/static/", "/_c/", CSP_REPORT_PATH],
        ),
        plugins=[HTMXPlugin()],
        # app/web/request_id.py, app/web/refuse_nul.py; cross-origin writes: app/auth/origin.py
        middleware=[request_ids, refuse_nul, same_origin_writes(settings)],
        before_send=[security_headers_hook(settings)],
        exception_handlers={
            HTTPException: html_error,
            500: html_error,
            DatabaseUnavailable: database_unavailable,  # a 503, logged in one line
        },
        lifespan=lifespans,
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            formatters={"standard": formatter_config(settings.log_format)},  # app/logs.py
            log_exceptions="always",
            # A client's mistake is one line, never a stack trace.
            disable_stack_trace={*range(400, 500), DatabaseUnavailable},
        ),
        openapi_config=None,
        request_max_body_size=1024 * 1024,
        debug=False,
    )
    # Cached pages, unchanged polls and click reports are answered before routing (app/web/
    # fastlane.py): refused if a middleware above is not known to be safe to skip for them.
    # The public page's misses too are rendered there (app/profiles/render.py).
    renderer = app.state.page_renderer = PageRenderer(app)
    page_lane = PageLane(pages, counting, renderer)
    app.open_lanes(
        page_lane, PollLane(polls, settings), ClickLane(counting), renderers=(page_lane,)
    )
    repeats.install()  # on the handlers configured just now, and uvicorn's
    RequestIds().install()
    return app
