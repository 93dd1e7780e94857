"""Cookies the app ends."""

from __future__ import annotations

from litestar.datastructures import Cookie

from app.config import Settings


def expired_cookie(settings: Settings, key: str) -> Cookie:
    """Ends the cookie `key` in the browser. Same attributes as when it was set: a __Host-
    cookie is only replaced by a Secure one."""
    return Cookie(
        key=key,
        value="",
        max_age=0,
        expires=0,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
