"""A faithful local stand-in for Whop, mounted at /_whop when no Whop URL is configured
(and only on a loopback APP_URL or with WHOP_EMULATOR=1: its consent page signs anyone in).

It stands for another company's system, so it keeps its own tables (schema
`whop_emulator`) and talks to the app only over HTTP, as Whop would. Each part lives in
its own module and contributes routes and a start-up step:

- `oauth`: Sign in with Whop (authorize page, token, userinfo, discovery, JWKS).
- `platform`: the REST API under /api/v1, hosted pages, webhook delivery and the stand-in
  for Whop's payout elements loader at /_whop/elements.js.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router

from app.config import Settings
from app.emulator import oauth, platform


def emulator_router(settings: Settings) -> Router:
    return Router(
        path="/_whop",
        route_handlers=[*oauth.routes(settings), *platform.routes(settings)],
        include_in_schema=False,
    )


def emulator_lifespan(settings: Settings):
    @asynccontextmanager
    async def run(app: Litestar) -> AsyncIterator[None]:
        # The credentials in the settings exist in the emulator, as they would at Whop.
        await oauth.bootstrap(settings)
        async with platform.running(settings, app):
            yield

    return run
