"""Writes come from Linkmint's own pages: a second wall behind the CSRF token.

A POST, PUT, PATCH or DELETE is refused with 403 when the browser says it was sent by
another origin: an `Origin` header other than APP_URL's, or `Sec-Fetch-Site` saying
`cross-site` or `same-site` (a sibling subdomain is another origin, and the one place a
cookie could be tossed from). Requests that carry neither header (old browsers, scripts,
the tests' clients) are left to the CSRF token alone.

The routes exempt from the CSRF token (CSRFConfig's `exclude`, or a handler's
`exclude_from_csrf` opt: Whop's webhooks, the emulator, CSP reports) are exempt here too,
since browsers and Whop legitimately post to them from elsewhere. Safe methods pass
untouched, and the fast lanes (app/web/fastlane.py) answer their GETs before this runs.
"""

from __future__ import annotations

from collections.abc import Callable
from re import Pattern
from urllib.parse import urlsplit

from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware._utils import build_exclude_path_pattern, should_bypass_middleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.web.fastlane import skipped_by_lanes

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = (
    "This request came from another website, so Linkmint refused it. "
    "If you sent it yourself, reload the Linkmint page and try again."
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` as a browser sends it in `Origin`, or None if `url` has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def cross_origin(scope: Scope, own_origin: str) -> bool:
    """Does the browser say this request was sent from a page of another origin?"""
    site = _header(scope, b"sec-fetch-site")
    if site is not None and site.strip().lower() in ("cross-site", "same-site"):
        return True
    origin = _header(scope, b"origin")
    return origin is not None and origin_of(origin) != own_origin


def same_origin_writes(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware (for `Litestar(middleware=[...])`) refusing cross-origin writes."""
    own_origin = origin_of(settings.app_url) or ""
    exempt: list[Pattern[str] | None] = []  # CSRFConfig's `exclude`, compiled on first use

    def exempt_path(scope: Scope) -> Pattern[str] | None:
        if not exempt:
            csrf = scope["litestar_app"].csrf_config
            exempt.append(build_exclude_path_pattern(exclude=csrf.exclude if csrf else None))
        return exempt[0]

    @skipped_by_lanes(
        "lanes answer GETs, and POSTs only to /_c/ (the click lane), which is exempt from the"
        " CSRF token and so from this check on the slow path too"
    )
    def middleware(app: ASGIApp) -> ASGIApp:
        async def checking(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP and scope["method"] in UNSAFE:
                csrf = scope["litestar_app"].csrf_config
                bypass = csrf is not None and should_bypass_middleware(
                    scope=scope,
                    scopes={ScopeType.HTTP},
                    exclude_opt_key=csrf.exclude_from_csrf_key,
                    exclude_path_pattern=exempt_path(scope),
                )
                if not bypass and cross_origin(scope, own_origin):
                    raise PermissionDeniedException(REFUSED)
            await app(scope, receive, send)

        return checking

    return middleware
