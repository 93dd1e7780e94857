"""Every error is an HTML page (or, for htmx, a redirect to sign-in); never a stack trace."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE

from app.db.outage import database_outage, describe

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


def sign_in_url(request: Request[Any, Any, Any]) -> str:
    """Where to send an anonymous visitor: sign-in, then back to the page they were on."""
    route = request.app.route_reverse
    dashboard = route("studio:dashboard")
    target = dashboard
    if request.method == "GET":
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
    if request.headers.get("hx-current-url") and request.headers.get("hx-request") == "true":
        target = dashboard  # an htmx fragment's own address is no page to come back to
    return route("auth:login") + "?next=" + quote(target, safe="/")


def html_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status = getattr(exc, "status_code", HTTP_500_INTERNAL_SERVER_ERROR)
    if not isinstance(exc, HTTPException):
        status = HTTP_500_INTERNAL_SERVER_ERROR
    if status == 401:
        target = sign_in_url(request)
        if request.headers.get("hx-request") == "true":
            return Response(content="", status_code=200, headers={"HX-Redirect": target})
        return Redirect(target, status_code=303)
    if database_outage(exc):
        return database_unavailable(request, exc)
    detail = exc.detail if isinstance(exc, HTTPException) and status < 500 else None
    if status >= 500 and not isinstance(exc, HTTPException):
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    response = _page(status, detail)
    if status == 405 and isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


def database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """PostgreSQL cannot be reached: a 503 (asking to come back shortly) and one log line,
    no traceback (app/logs.py counts the repeats)."""
    log.warning(
        "database unreachable: %s %s answered 503 (%s)",
        request.method,
        request.url.path,
        describe(exc),
    )
    detail = "This page cannot be loaded right now. Please try again in a moment."
    response = _page(HTTP_503_SERVICE_UNAVAILABLE, detail)
    response.headers["retry-after"] = "5"
    return response


def _page(status: int, detail: str | None) -> Template:
    return Template(
        template_name="errors/error.html",
        context={
            "status_code": status,
            "title": TITLES.get(status, "Something went wrong"),
            "detail": detail,
        },
        status_code=status,
    )
