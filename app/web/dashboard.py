"""The dashboard page at /dashboard, as a whole: what its full render needs.

The studio's links and profile, the payouts onboarding card and the earnings all render on
this one page, so both the studio's and the payouts' controllers render it (the payouts one
after a refused "Enable earnings"). It lives here, outside either feature, so that neither
controller imports the other.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request

from app.auth.service import CreatorRecord
from app.payments.earnings import earnings_for
from app.profiles.service import page_for_creator
from app.shared import rules
from app.shared.fees import money_rules
from app.studio import service
from app.studio.forms import Form, blank_link_form, profile_form_for
from app.studio.pricing import Pricing, pricing_for

LIMITS = {
    "handle_min": rules.HANDLE_MIN,
    "handle_max": rules.HANDLE_MAX,
    "display_name": rules.DISPLAY_NAME_MAX,
    "bio": rules.BIO_MAX,
    "avatar_url": rules.AVATAR_URL_MAX,
    "title": rules.TITLE_MAX,
    "url": rules.URL_MAX,
}
VIEW_CONSTANTS = {"themes": rules.THEMES, "limits": LIMITS, "time_zones": rules.time_zone_names()}


async def pricing(creator: CreatorRecord) -> Pricing:
    return pricing_for(creator, await money_rules())


async def page_context(creator: CreatorRecord, **overrides: Any) -> dict[str, Any]:
    """Everything the full dashboard page renders; a refused form is passed in `overrides`
    (the payouts controller passes `payouts_problem` the same way)."""
    links = await service.studio_links(creator.id) if creator.handle else []
    context: dict[str, Any] = {
        "creator": creator,
        "claim": Form(values={"handle": ""}),
        "profile": profile_form_for(creator),
        "add": blank_link_form(),
        "links": links,
        "counts": service.count_links(links),
        "editing_id": None,
        "edit": None,
        "payouts_notice": None,
        "payouts_problem": None,
        "older_page": False,
        **VIEW_CONSTANTS,
    }
    if creator.handle:
        context["page"] = await page_for_creator(creator)
        context["pricing"] = await pricing(creator)
        if "earnings" not in overrides:
            context["earnings"] = await earnings_for(creator.id)
    context.update(overrides)
    return context


def dashboard_url(request: Request[Any, Any, Any], anchor: str = "", *, notice: str = "") -> str:
    """The dashboard's address by its route name, with one of its payouts notices
    (`?payouts=…`) and an anchor, if given."""
    query = "?" + urlencode({"payouts": notice}) if notice else ""
    return request.app.route_reverse("studio:dashboard") + query + anchor
