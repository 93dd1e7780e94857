from __future__ import annotations

from litestar import Controller


class StudioController(Controller):
    path = "/dashboard"
