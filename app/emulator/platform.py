"""The emulator's REST API, hosted pages and webhook delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.config import Settings


def routes(settings: Settings) -> list:
    return []


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[None]:
    yield
