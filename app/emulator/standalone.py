"""`linkmint emulator`: the Whop emulator on its own, for a client that is not Linkmint.

The app is the emulator's routes alone, under the same `/_whop` prefix as when Linkmint
mounts it, so URLs are alike either way (API `http://HOST:PORT/_whop/api/v1`, OAuth
`…/_whop/oauth`), plus the two style sheets of its hosted pages. It keeps its tables in
the schema `whop_emulator` of Linkmint's database (DATABASE_URL, else the embedded
PostgreSQL under VAR_DIR/pg) and applies only the emulator's migrations.

With no Linkmint app behind it, every URL it hands out (checkout, onboarding, discovery)
names the emulator's own address, and events go only to the webhooks registered through
its API. The credentials are Linkmint's (WHOP_API_KEY, WHOP_CLIENT_ID, …: from the
environment, else generated once into VAR_DIR), so a Linkmint instance pointed at this
emulator with WHOP_API_BASE and WHOP_OAUTH_BASE agrees with it. The OAuth client accepts
the redirect URIs given on the command line (default: APP_URL/auth/callback).

The emulator signs anyone in as any user it lists, so it listens on loopback only.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from litestar import Litestar, MediaType, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.logging import LoggingConfig
from litestar.response import File

from app.config import Settings
from app.db.engine import app_engine, pool_lifespan
from app.emulator import delivery, emulator_router, identity, platform
from app.emulator.api import whop_error
from app.emulator.oauth import CLIENT_NAME
from app.emulator.payments import TEST_CARDS
from app.emulator.protocol import ApiError
from app.resources import STATIC
from app.web.headers import security_headers_hook
from app.web.templating import template_config

# The hosted pages' looks (templates/emulator/*.html load them through `asset()`).
STYLE_SHEETS = ("emulator.css", "emulator-hosted.css")


class NotLoopback(ValueError):
    """The emulator would be reachable from other machines."""


def emulator_url(host: str, port: int) -> str:
    """`http://HOST:PORT`, refusing any host but localhost and loopback addresses."""
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise NotLoopback(
                f"--host {host} is not a loopback address: the emulator's consent page signs "
                "anyone in as any user, so it listens on 127.0.0.1, ::1 or localhost only"
            )
    name = f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}"


def standalone_settings(settings: Settings, url: str) -> Settings:
    """The settings as the emulator's handlers read them: its own address is `app_url`
    (the base of every URL it hands out), and it is Whop, not a client of one."""
    return dataclasses.replace(
        settings, app_url=url, whop_api_base=None, whop_oauth_base=None, whop_oauth_issuer=None
    )


@get(
    "/static/css/{name:str}",
    include_in_schema=False,
    cache_control=CacheControlHeader(max_age=31536000, public=True),
)
async def style_sheet(name: str) -> File:
    if name not in STYLE_SHEETS:
        raise NotFoundException()
    return File(
        STATIC / "css" / name,
        content_disposition_type="inline",
        media_type="text/css",
    )


JSON_PREFIXES = ("/_whop/api/", "/_whop/_control/")


def not_served(request: Request, exc: Exception) -> Response:
    """What no handler of the emulator answered: a path or method it does not serve, a
    hosted page's unknown link, a failure. Under the API and the control API that is Whop's
    JSON error body, as for every other refusal there (a client's SDK parses it); elsewhere
    a line of text, since these pages are not Linkmint's and its error pages need its app."""
    if request.url.path.startswith(JSON_PREFIXES):
        status = getattr(exc, "status_code", 500)
        if status in (404, 405):  # the router found no handler for this method and path
            where = request.url.path.removeprefix("/_whop")
            return ApiError(status, f"No such endpoint: {request.method} {where}").response()
        return whop_error(request, exc)
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        status, text = exc.status_code, str(exc.detail)
    else:
        status, text = 500, "Something went wrong in the Whop emulator."
    return Response(text, status_code=status, media_type=MediaType.TEXT)


def _security_headers(settings: Settings):
    """Linkmint's headers as they are: the client's origin is on another port here, and each
    hosted page adds to `form-action` the origins its own session returns to (the
    checkout's redirect_url, the link's return_url, the validated redirect_uri), so a form
    never gains a way to anywhere else."""
    return security_headers_hook(settings)


def banner(settings: Settings, redirect_uris: Sequence[str], database: str) -> str:
    """What a developer needs to point a client at this emulator."""
    base = f"{settings.app_url}/_whop"
    cards = [
        f"  {' '.join(number[i : i + 4] for i in range(0, 16, 4))}  "
        f"{card.brand:<10} {card.decline or 'pays'}"
        for number, card in TEST_CARDS.items()
    ]
    return "\n".join(
        [
            f"Whop emulator on {base}  (database: {database})",
            f"  API base         {settings.api_base}",
            f"  OAuth base       {settings.oauth_base}",
            f"  OAuth issuer     {settings.oauth_authority}",
            f"  control API      {base}/_control",
            f"  API key          {settings.whop_api_key}",
            f"  parent company   {settings.whop_parent_company_id}",
            f"  OAuth client id  {settings.whop_client_id}",
            f"  OAuth secret     {settings.whop_client_secret}",
            f"  redirect URIs    {' '.join(redirect_uris)}",
            f"  webhook secret   {settings.whop_webhook_secret}  (WHOP_WEBHOOK_SECRET; events go "
            "only to webhooks registered through the API, each signed with the secret its "
            "create call returns)",
            "Test cards (any future expiry MM/YY, any 3-digit CVC):",
            *cards,
            "Ctrl-C stops it.",
        ]
    )


def create_standalone_app(
    settings: Settings, redirect_uris: Sequence[str], database: str = "DATABASE_URL"
) -> Litestar:
    """The emulator alone; `settings` are already `standalone_settings`."""

    @asynccontextmanager
    async def emulator(app: Litestar) -> AsyncIterator[None]:
        for uri in redirect_uris:  # the client's registered set (each call adds one)
            await identity.register_client(
                settings.whop_client_id, CLIENT_NAME, settings.whop_client_secret, uri
            )
        await identity.ensure_signing_key()
        delivery.deliver_to_app = False  # there is no app: registered webhooks only
        async with platform.running(settings):
            print(banner(settings, redirect_uris, database), flush=True)
            yield

    return Litestar(
        route_handlers=[emulator_router(settings), style_sheet],
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
        },
        template_config=template_config(settings),
        before_send=[_security_headers(settings)],
        lifespan=[pool_lifespan(settings), emulator],
        exception_handlers={HTTPException: not_served, 500: not_served},
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            log_exceptions="always",
            disable_stack_trace={*range(400, 500)},  # a client's mistake is not a failure
        ),
        openapi_config=None,
        request_max_body_size=1024 * 1024,
        debug=False,
    )


async def migrate() -> None:
    """The emulator's migrations only (its schema; Linkmint's tables are not touched)."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    app_engine().without_statement_timeout()
    result = await run_forwards(app_name="emulator")
    if not result.success:
        raise SystemExit(f"migrations failed: {result.message}")


def run(settings: Settings, host: str, port: int, redirect_uris: Sequence[str]) -> None:
    """Migrate, then serve until SIGINT or SIGTERM; the embedded PostgreSQL it started (no
    DATABASE_URL) stops with it, unless another process uses it."""
    import asyncio

    from app.db.engine import stop_embedded_server

    url = emulator_url(host, port)
    database = "DATABASE_URL" if settings.database_url else f"embedded, {settings.var_dir / 'pg'}"
    # SIGTERM would end the process on the spot, skipping the `finally` below (uvicorn, once
    # it has shut down gracefully, raises the signal again for this handler).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        asyncio.run(migrate())
        app = create_standalone_app(standalone_settings(settings, url), redirect_uris, database)
        uvicorn.run(app, host=host, port=port, log_level="warning", ws="none", server_header=False)
    except KeyboardInterrupt:  # Ctrl-C before the server was up
        raise SystemExit(128 + signal.SIGINT) from None
    finally:
        if not settings.database_url and stop_embedded_server(settings.var_dir):
            print("stopped the embedded PostgreSQL", flush=True)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
