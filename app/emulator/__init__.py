"""A faithful local stand-in for Whop, mounted at /_whop when no Whop URL is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router

from app.config import Settings


def emulator_router(settings: Settings) -> Router:
    return Router(path="/_whop", route_handlers=[], include_in_schema=False)


def emulator_lifespan(settings: Settings):
    @asynccontextmanager
    async def run(app: Litestar) -> AsyncIterator[None]:
        yield

    return run
