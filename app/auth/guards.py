"""Who is asking: the signed-in creator, loaded once per request from the session cookie."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException

from app.auth.service import CreatorRecord
from app.auth.sessions import cookie_name, creator_for_session
from app.web.deps import SettingsDep

CREATOR_KEY = "linkmint.creator"


async def current_creator(
    request: Request[Any, Any, Any], settings: SettingsDep
) -> CreatorRecord | None:
    """The signed-in creator or None. Cached on the request scope."""
    if CREATOR_KEY not in request.scope:
        token = request.cookies.get(cookie_name(settings.secure_cookies))
        request.scope[CREATOR_KEY] = await creator_for_session(token)  # type: ignore[literal-required]
    creator: CreatorRecord | None = request.scope[CREATOR_KEY]  # type: ignore[literal-required]
    return creator


async def signed_in_creator(
    request: Request[Any, Any, Any], settings: SettingsDep
) -> CreatorRecord:
    """The signed-in creator; anonymous requests get 401 (rendered as a trip to sign-in)."""
    creator = await current_creator(request, settings)
    if creator is None:
        raise NotAuthorizedException("Sign in to continue.")
    return creator
