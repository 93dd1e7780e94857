"""The landing page."""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from app.web.deps import ViewerDep


@get("/", name="home", cache=False, include_in_schema=False)
async def home(viewer: ViewerDep) -> Template:
    return Template(template_name="home.html", context={"creator": viewer})
