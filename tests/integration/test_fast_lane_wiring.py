"""The fast lanes answer before routing, so they skip the app-wide middleware: the app opens
them only when every such middleware is marked as safe to skip, and says which is not."""

from __future__ import annotations

import pytest
from litestar import get
from litestar.types import ASGIApp, Receive, Scope, Send

from app.main import create_app
from app.web.fastlane import Answer, LinkmintApp, skipped_by_lanes, unmarked


class NoLane:
    def answer(self, scope: Scope) -> Answer | None:
        return None

    def observe(self, scope: Scope, send: Send) -> Send:
        return send


def unreviewed_middleware():
    """A new middleware nobody has reviewed for the lanes (say, one adding a header)."""

    def stamping(app: ASGIApp) -> ASGIApp:
        async def stamp(scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)

        return stamp

    return stamping


@get("/")
async def index() -> str:
    return "ok"


def test_the_app_opens_its_lanes_with_every_middleware_marked(settings):
    app = create_app(settings, caches=True)
    assert len(app.lanes) == 3  # the page, the poll, the click
    assert app.renderers == (app.lanes[0],)  # the page renders its misses too
    assert unmarked(app) == []
    assert all(getattr(m, "skipped_by_lanes", "") for m in app.middleware)


def test_an_unmarked_middleware_keeps_the_lanes_shut_and_is_named():
    app = LinkmintApp(route_handlers=[index], middleware=[unreviewed_middleware()])
    with pytest.raises(RuntimeError, match=r"fast lanes would skip \S*stamping"):
        app.open_lanes(NoLane())
    assert app.lanes == ()


def test_an_app_wide_request_hook_keeps_the_lanes_shut_too():
    async def audit(request) -> None:
        return None

    app = LinkmintApp(route_handlers=[index], before_request=audit)
    with pytest.raises(RuntimeError, match="before_request hook"):
        app.open_lanes(NoLane())


def test_a_marked_middleware_lets_the_lanes_open():
    reviewed = skipped_by_lanes("adds nothing a cached page needs")(unreviewed_middleware())
    app = LinkmintApp(route_handlers=[index], middleware=[reviewed])
    lane = NoLane()
    app.open_lanes(lane)
    assert app.lanes == (lane,)
