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


def strict_directives(settings: Settings) -> dict[str, str]:
    """The policy every page gets; offline the emulator's hosted pages are same-origin."""
    directives = dict(STRICT_CSP)
    if not settings.emulator_enabled:
        directives["form-action"] = f"'self' {WHOP_HOSTED_PAGES}"
    return directives


def render_csp(
    extra: dict[str, str] | None = None, base: dict[str, str] | None = None
) -> str:
    directives = dict(base or STRICT_CSP)
    for name, sources in (extra or {}).items():
        base = directives.get(name, "")
        directives[name] = sources if base == "'none'" else f"{base} {sources}".strip()
    return "; ".join(f"{k} {v}" for k, v in directives.items())


def security_headers_hook(settings: Settings):
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
        extra = scope.get(CSP_EXTRA_KEY)  # type: ignore[call-overload]
        headers["content-security-policy"] = render_csp(extra, base) if extra else strict
        for name, value in fixed.items():
            headers[name] = value
        if policy := scope.get(PERMISSIONS_POLICY_KEY):  # type: ignore[call-overload]
            headers["permissions-policy"] = policy

    return set_security_headers
