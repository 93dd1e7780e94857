"""Security headers on every response: pages, fragments, errors and static files alike.

A `before_send` hook, not `response_headers`, because the latter skips exception responses
and the static files router.
"""

from __future__ import annotations

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

# A route may widen the policy for itself (the payout page, later) by putting a dict of
# extra sources per directive under this scope key; everything else keeps STRICT_CSP.
CSP_EXTRA_KEY = "linkmint.csp_extra"


def render_csp(extra: dict[str, str] | None = None) -> str:
    directives = dict(STRICT_CSP)
    for name, sources in (extra or {}).items():
        base = directives.get(name, "")
        directives[name] = sources if base == "'none'" else f"{base} {sources}".strip()
    return "; ".join(f"{k} {v}" for k, v in directives.items())


def security_headers_hook(settings: Settings):
    strict = render_csp()
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
        extra = scope.get(CSP_EXTRA_KEY)  # type: ignore[call-overload]
        headers["content-security-policy"] = render_csp(extra) if extra else strict
        for name, value in fixed.items():
            headers[name] = value

    return set_security_headers
