"""Every error is an HTML page (or, for htmx, a redirect to sign-in); never a stack trace."""

from __future__ import annotations

import logging
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("app.web")

TITLES = {
    400: "That request did not make sense",
    401: "Please sign in",
    403: "Not allowed",
    404: "Nothing here",
    405: "Not allowed",
    413: "That was too large",
    422: "Please check what you sent",
    429: "Slow down a little",
    500: "Something went wrong on our side",
    502: "Whop is not answering",
    503: "Temporarily unavailable",
}


def sign_in_url(request: Request) -> str:
    """Where to send an anonymous visitor: sign-in, then back to the page they were on."""
    target = "/dashboard"
    if request.method == "GET":
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
    current = request.headers.get("hx-current-url")
    if current and request.headers.get("hx-request") == "true":
        target = "/dashboard"
    return "/auth/login?next=" + quote(target, safe="/")


def html_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", HTTP_500_INTERNAL_SERVER_ERROR)
    if not isinstance(exc, HTTPException):
        status = HTTP_500_INTERNAL_SERVER_ERROR
    if status == 401:
        target = sign_in_url(request)
        if request.headers.get("hx-request") == "true":
            return Response(content="", status_code=200, headers={"HX-Redirect": target})
        return Redirect(target, status_code=303)
    detail = exc.detail if isinstance(exc, HTTPException) and status < 500 else None
    if status >= 500 and not isinstance(exc, HTTPException):
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    response = Template(
        template_name="errors/error.html",
        context={
            "status_code": status,
            "title": TITLES.get(status, "Something went wrong"),
            "detail": detail,
        },
        status_code=status,
    )
    if status == 405 and isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response
