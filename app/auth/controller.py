"""Sign in with Whop: /auth/login, /auth/callback, /auth/logout."""

from __future__ import annotations

from litestar import Controller, Request, post
from litestar.response import Redirect

from app.auth.sessions import cookie_name, end_session
from app.web.deps import SettingsDep


class AuthController(Controller):
    path = "/auth"

    @post("/logout", name="auth:logout")
    async def logout(self, request: Request, settings: SettingsDep) -> Redirect:
        name = cookie_name(settings.secure_cookies)
        if token := request.cookies.get(name):
            await end_session(token)
        response = Redirect("/", status_code=303)
        response.delete_cookie(name, path="/")
        return response
