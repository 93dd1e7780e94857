"""/metrics: the Prometheus exposition, for a scraper on this host only.

The counters and the database's gauges stay with the rooms that keep them
(app/payments/metrics.py renders them); this room only decides who may read them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException

from app.payments.metrics import CONTENT_TYPE, render_metrics


def _from_this_host(request: Request[Any, Any, Any]) -> bool:
    """The real client is this host: a loopback address once uvicorn has applied a trusted
    proxy's X-Forwarded-For (TRUSTED_PROXIES), and no RFC 7239 `Forwarded` header, which
    nothing reads: a proxy sending only that would pass every client off as itself."""
    if request.client is None or "forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


@get(
    "/metrics",
    name="ops:metrics",
    include_in_schema=False,
    cache=False,
    opt={"exclude_from_csrf": True},
)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus metrics, for a scraper on this host only: asked directly, or through a
    trusted proxy that says the client is this host. (The proxy should refuse /metrics too:
    deploy/nginx/linkmint.conf does.)"""
    if not _from_this_host(request):
        raise NotFoundException()
    return Response(
        await render_metrics(),
        media_type=CONTENT_TYPE,
        headers={"cache-control": "no-store"},
    )
