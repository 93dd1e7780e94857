"""The emulator's Sign in with Whop (OAuth 2.1 + PKCE, OpenID Connect)."""

from __future__ import annotations

from app.config import Settings


def routes(settings: Settings) -> list:
    return []


async def bootstrap(settings: Settings) -> None:
    return None
