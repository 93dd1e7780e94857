"""Sign in with Whop: /auth/login, /auth/callback, /auth/logout, /auth/logout-everywhere.

Sign-in and sign-out each rotate the CSRF token as well as the session: a token a page (or
an attacker who planted the cookie) held before is worthless after. A failed callback ends
only the pending sign-in: a link to `/auth/callback?error=…` from another site must not be
a way to sign someone out.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.middleware.csrf import generate_csrf_token
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from app.auth import oidc
from app.auth.pending import (
    PENDING_LIFETIME,
    PendingSignIn,
    consume,
    pending_cookie_name,
    remember,
    safe_next,
    seal,
    unseal,
)
from app.auth.service import record_sign_in
from app.auth.sessions import (
    SESSION_LIFETIME,
    cookie_name,
    creator_for_session,
    end_all_sessions,
    end_session,
    start_session,
)
from app.config import Settings
from app.web.cookies import expired_cookie
from app.web.deps import SettingsDep, ViewerDep
from app.web.limits import CALLBACK, LOGIN, limited
from app.whop import WhopOAuth

log = logging.getLogger("app.auth")

# reason -> (title, what happened and what to do). Each ends the pending sign-in, and only
# that: a browser already signed in stays signed in.
FAILURES = {
    "declined": (
        "You did not approve the sign-in",
        "Whop reports that the sign-in was declined, so it did not happen.",
    ),
    "whop_error": (
        "Whop could not sign you in",
        "Whop sent you back with an error instead of a sign-in.",
    ),
    "no_pending_sign_in": (
        "This sign-in has expired",
        "The sign-in was not started in this browser, or took longer than 10 minutes.",
    ),
    "already_used": (
        "This sign-in was already used",
        "Each sign-in can be finished once, and this one already was (or it expired). "
        "Start again to sign in.",
    ),
    "state_mismatch": (
        "This sign-in does not belong to this browser",
        "The response from Whop does not match the sign-in this browser started "
        "(its state differs), so it was ignored.",
    ),
    "missing_code": (
        "Whop's response was incomplete",
        "Whop sent you back without a sign-in code.",
    ),
    "code_rejected": (
        "Whop did not accept this sign-in",
        "The sign-in code was refused: it may have been used already, have expired, "
        "or not match this browser's sign-in.",
    ),
    "bad_id_token": (
        "We could not verify who you are",
        "The identity Whop sent failed verification, so it was not trusted.",
    ),
    "nonce_mismatch": (
        "This sign-in was not meant for this browser",
        "The identity Whop sent was issued for a different sign-in (its nonce differs).",
    ),
    "client_rejected": (
        "Linkmint could not talk to Whop",
        "Whop refused Linkmint's app credentials. The operator needs to check "
        "WHOP_CLIENT_ID and WHOP_CLIENT_SECRET.",
    ),
    "whop_unreachable": (
        "Whop is not answering",
        "We could not reach Whop to finish signing you in. Please try again in a moment.",
    ),
    "whop_failed": (
        "Whop had a problem",
        "Whop answered with an error while we were finishing your sign-in. "
        "Please try again in a moment.",
    ),
}


def _cookie(settings: Settings, key: str, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def _fresh_csrf_cookie(request: Request[Any, Any, Any]) -> Cookie:
    """A new CSRF token cookie, made as Litestar's CSRF middleware makes one."""
    config = request.app.csrf_config
    assert config is not None  # app/main.py always configures it
    return Cookie(
        key=config.cookie_name,
        value=generate_csrf_token(secret=config.secret),
        path=config.cookie_path,
        secure=config.cookie_secure,
        httponly=config.cookie_httponly,
        samesite=config.cookie_samesite,
        domain=config.cookie_domain,
    )


async def _failed_page(
    request: Request[Any, Any, Any], settings: Settings, failure: oidc.SignInFailed, next_path: str
) -> Template:
    """The failure's page. The pending sign-in is over; a session the browser had is kept,
    since anyone can send a browser here with an error in the query."""
    signed_in = await creator_for_session(request.cookies.get(cookie_name(settings.secure_cookies)))
    log.warning("sign-in failed: %s %s", failure.reason, failure.detail)
    title, message = FAILURES[failure.reason]
    return Template(
        template_name="auth/failed.html",
        context={
            "title": title,
            "message": message,
            "detail": failure.detail,
            "signed_in": signed_in is not None,
            "retry_url": request.app.route_reverse("auth:login")
            + "?"
            + urlencode({"next": next_path}),
        },
        status_code=failure.status_code,
        cookies=[expired_cookie(settings, pending_cookie_name(settings.secure_cookies))],
        headers={"Cache-Control": "no-store"},
    )


class AuthController(Controller):
    path = "/auth"

    @get("/login", name="auth:login", cache=False, before_request=limited(LOGIN))
    async def login(
        self,
        request: Request[Any, Any, Any],
        settings: SettingsDep,
        next_path: Annotated[str | None, QueryParameter(name="next")] = None,
    ) -> Redirect:
        pending = PendingSignIn(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),  # 64 characters; RFC 7636 wants 43-128
            next=safe_next(next_path) or request.app.route_reverse("studio:dashboard"),
            expires_at=int(time.time()) + PENDING_LIFETIME,
        )
        await remember(pending)
        url = oidc.authorize_url(
            settings, state=pending.state, nonce=pending.nonce, verifier=pending.verifier
        )
        name = pending_cookie_name(settings.secure_cookies)
        cookie = _cookie(settings, name, seal(pending, settings.secret_key), PENDING_LIFETIME)
        return Redirect(
            url, status_code=303, cookies=[cookie], headers={"Cache-Control": "no-store"}
        )

    @get("/callback", name="auth:callback", cache=False, before_request=limited(CALLBACK))
    async def callback(
        self, request: Request[Any, Any, Any], settings: SettingsDep
    ) -> Response[Any]:
        # Read by hand: `state` is a name Litestar reserves for handler arguments.
        query = request.query_params
        code, state, error = query.get("code"), query.get("state"), query.get("error")
        pending_name = pending_cookie_name(settings.secure_cookies)
        pending = unseal(request.cookies.get(pending_name), settings.secret_key)
        next_path = pending.next if pending else request.app.route_reverse("studio:dashboard")
        # Whatever this callback brings, it ends the pending sign-in it carries, first: of
        # any number of callbacks with one cookie (replayed or racing) one gets this far.
        still_open = pending is not None and await consume(pending)
        try:
            if error:
                described = error[:60] if error.replace("_", "").isalnum() else "unknown"
                if described == "access_denied":
                    raise oidc.SignInFailed("declined", 403)
                raise oidc.SignInFailed("whop_error", 400, f"Whop's error code: {described}")
            if pending is None:
                raise oidc.SignInFailed("no_pending_sign_in", 400)
            if not still_open:
                raise oidc.SignInFailed("already_used", 400)
            if not state or not secrets.compare_digest(state.encode(), pending.state.encode()):
                raise oidc.SignInFailed("state_mismatch", 400)
            if not code:
                raise oidc.SignInFailed("missing_code", 400)
            async with WhopOAuth.connect(settings, request.app) as whop_oauth:
                profile = await oidc.complete_sign_in(
                    settings, whop_oauth, code=code, verifier=pending.verifier, nonce=pending.nonce
                )
        except oidc.SignInFailed as failure:
            return await _failed_page(request, settings, failure, next_path)

        creator = await record_sign_in(
            whop_user_id=profile.whop_user_id,
            email=profile.email,
            name=profile.name,
            username=profile.username,
            picture=profile.picture,
        )
        session = cookie_name(settings.secure_cookies)
        token = await start_session(creator.id, replacing=request.cookies.get(session))
        return Redirect(
            pending.next,
            status_code=303,
            cookies=[
                _cookie(settings, session, token, int(SESSION_LIFETIME.total_seconds())),
                expired_cookie(settings, pending_name),
                _fresh_csrf_cookie(request),
            ],
            headers={"Cache-Control": "no-store"},
        )

    @post("/logout", name="auth:logout")
    async def logout(self, request: Request[Any, Any, Any], settings: SettingsDep) -> Redirect:
        name = cookie_name(settings.secure_cookies)
        if token := request.cookies.get(name):
            await end_session(token)
        cookies = [expired_cookie(settings, name), _fresh_csrf_cookie(request)]
        return Redirect(request.app.route_reverse("home"), status_code=303, cookies=cookies)

    @post("/logout-everywhere", name="auth:logout-everywhere")
    async def logout_everywhere(
        self, request: Request[Any, Any, Any], settings: SettingsDep, viewer: ViewerDep
    ) -> Redirect:
        """End every session of the signed-in creator (a lost phone, a shared computer), then
        sign this browser out too."""
        cookies = [
            expired_cookie(settings, cookie_name(settings.secure_cookies)),
            _fresh_csrf_cookie(request),
        ]
        if viewer is None:  # nothing to end: an expired session, or a second click
            return Redirect(request.app.route_reverse("home"), status_code=303, cookies=cookies)
        ended = await end_all_sessions(viewer.id)
        log.info("creator %s signed out everywhere: %d session(s) ended", viewer.id, ended)
        done = request.app.route_reverse("auth:signed-out-everywhere")
        return Redirect(done, status_code=303, cookies=cookies)

    @get("/signed-out-everywhere", name="auth:signed-out-everywhere", cache=False)
    async def signed_out_everywhere(self) -> Template:
        """Where "Sign out everywhere" lands: says what happened (nothing here is private)."""
        return Template(template_name="auth/signed_out.html")
