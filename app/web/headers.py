"""Security headers on every response: pages, fragments, errors and static files alike.

A `before_send` hook, not `response_headers`, because the latter skips exception responses
and the static files router.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from app.config import Settings

STRICT_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' https: data:",  # creators' avatars live on their own hosts
    "font-src": "'self'",
    "connect-src": "'self'",
    "frame-src": "'none'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}

# Whop's hosted pages (checkout, identity verification) live on whop.com. A form that
# posts to us and is answered with a redirect there counts as a form action for the
# browser, so without JavaScript those redirects need Whop's origins in form-action.
WHOP_HOSTED_PAGES = "https://whop.com https://*.whop.com"

# A route may widen the policy for itself (the payout page) by putting a dict of
# extra sources per directive under this scope key; everything else keeps STRICT_CSP.
CSP_EXTRA_KEY = "linkmint.csp_extra"
# Likewise a route may put its own Permissions-Policy value here (the payout page: Whop's
# identity check needs the camera, which the default policy turns off).
PERMISSIONS_POLICY_KEY = "linkmint.permissions_policy"

_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_source(url: str) -> str | None:
    """The origin of an http(s) `url` as a CSP source (`http://127.0.0.1:8200`), or None
    when it has none a policy can name exactly. The value goes into a header, so a host of
    anything but the characters of a DNS name or an IP address is never copied."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        if ":" in host:
            host = f"[{host}]"
        else:
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not _HOST.fullmatch(host):
        return None
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def allow_form_redirects(scope: Scope, own_url: str, *urls: str | None) -> None:
    """Let this response's forms be answered with a redirect to the origins of `urls` (the
    return addresses a hosted page was opened for) besides 'self': a browser checks every
    redirect after a form is posted against `form-action`. An origin equal to `own_url`'s
    adds nothing, so a same-origin return keeps the policy exactly `form-action 'self'`."""
    origins = {origin_source(url) for url in urls if url} - {origin_source(own_url)}
    sources = sorted(origin for origin in origins if origin is not None)
    if sources:
        extra: dict[str, str] = _scope_value(scope, CSP_EXTRA_KEY) or {}
        extra = {**extra, "form-action": " ".join(sources)}
        scope[CSP_EXTRA_KEY] = extra  # type: ignore[literal-required]


def _scope_value(scope: Scope, key: str) -> Any:
    """What a handler left in the scope under `key` (the ASGI scope's type names only the
    standard keys)."""
    return cast("dict[str, Any]", scope).get(key)


def strict_directives(settings: Settings) -> dict[str, str]:
    """The policy every page gets; offline the emulator's hosted pages are same-origin."""
    directives = dict(STRICT_CSP)
    if not settings.emulator_enabled:
        directives["form-action"] = f"'self' {WHOP_HOSTED_PAGES}"
    return directives


def render_csp(extra: dict[str, str] | None = None, base: dict[str, str] | None = None) -> str:
    directives = dict(base or STRICT_CSP)
    for name, sources in (extra or {}).items():
        current = directives.get(name, "")
        directives[name] = sources if current == "'none'" else f"{current} {sources}".strip()
    return "; ".join(f"{k} {v}" for k, v in directives.items())


def security_headers_hook(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    base = strict_directives(settings)
    strict = render_csp(base=base)
    fixed = {
        "x-content-type-options": "nosniff",
        "referrer-policy": "strict-origin-when-cross-origin",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if settings.secure_cookies:
        fixed["strict-transport-security"] = "max-age=31536000; includeSubDomains"

    async def set_security_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        extra = _scope_value(scope, CSP_EXTRA_KEY)
        headers["content-security-policy"] = render_csp(extra, base) if extra else strict
        for name, value in fixed.items():
            headers[name] = value
        if policy := _scope_value(scope, PERMISSIONS_POLICY_KEY):
            headers["permissions-policy"] = policy

    return set_security_headers
