"""The creator's selling currency: the Earnings card's "Selling currency" select.

Premium links are priced, and sold, in the creator's currency; an unlock keeps the currency
it was bought in, so switching never changes a past sale or its totals. Prices are never
converted either: while a premium link carries a price in the old currency the switch is
refused, and the creator turns those links into ordinary ones (or deletes them) first, then
prices them again in the new currency. The refusal is part of the UPDATE itself, so a
premium link priced in another tab at the same moment cannot slip through.

Which currencies may be picked is the operator's (`currency_rule`, `linkmint currencies`).
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.exceptions import NotFoundException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from app.auth.service import CreatorRecord
from app.db.tables import Creator, Link
from app.shared.fees import PriceRefused, money_rules
from app.studio.forms import Form
from app.web.dashboard import VIEW_CONSTANTS, dashboard_url, page_context
from app.web.deps import CreatorDep

CARD = "studio/_currency.html"
CODE = re.compile(r"[a-z]{3}")
ANCHOR = "#earnings"

# Conditional: no premium link of the creator's may carry a price when the currency changes.
_SWITCH_SQL = """
UPDATE creator SET currency = {}, updated_at = now()
 WHERE id = {} AND NOT EXISTS (
       SELECT 1 FROM link WHERE link.creator = creator.id AND link.kind = 'premium')
RETURNING *
"""


class CurrencySwitchRefused(ValueError):
    """Why the creator cannot switch now; `str(exc)` is shown beside the select."""


async def switch_currency(creator: CreatorRecord, currency: str) -> CreatorRecord:
    """The creator, now selling in `currency` (one the operator allows)."""
    if not CODE.fullmatch(currency):
        raise CurrencySwitchRefused("Choose a currency from the list.")
    rules = await money_rules()
    try:
        rules.rule_for(currency)
    except PriceRefused as exc:
        raise CurrencySwitchRefused(str(exc)) from None
    rows = await Creator.raw(_SWITCH_SQL, currency, creator.id)
    if rows:
        return CreatorRecord.from_row(rows[0])
    premium = await Link.count().where((Link.creator == creator.id) & (Link.kind == "premium"))
    links = "a premium link" if premium == 1 else f"{premium} premium links"
    old, new = creator.currency.upper(), currency.upper()
    raise CurrencySwitchRefused(
        f"You have {links} priced in {old}, and prices are never converted. Make "
        f"{'it an ordinary link' if premium == 1 else 'them ordinary links'} or delete "
        f"{'it' if premium == 1 else 'them'} first, then switch to {new} and price again."
    )


async def _answer(
    request: HTMXRequest,
    creator: CreatorRecord,
    *,
    message: str | None = None,
    status: int = 200,
    **overrides: Any,
) -> Response[Any]:
    """htmx: the select, with the link list out of band (its prices and labels follow the
    currency). A plain POST: 303 back to the studio, or the whole studio when refused."""
    if not request.htmx and status < 400:
        return Redirect(dashboard_url(request, ANCHOR), status_code=303)
    context = await page_context(creator, **overrides)
    if not request.htmx:
        return Template(template_name="studio/dashboard.html", context=context, status_code=status)
    context |= {
        **VIEW_CONSTANTS,
        "fragment": CARD,
        "message": message,
        "oob_counts": None,
        "links_oob": status < 400,
    }
    headers = {"HX-Trigger": "page-changed"} if status < 400 else {}
    return Template(
        template_name="studio/_response.html", context=context, status_code=status, headers=headers
    )


async def _posted_currency(request: Request[Any, Any, Any]) -> str:
    value = (await request.form()).get("currency", "")
    return value.strip().lower() if isinstance(value, str) else ""


class CurrencyController(Controller):
    path = "/dashboard/currency"
    include_in_schema = False
    # Signed-in pages: never stored by a shared cache; htmx and full-page answers differ.
    cache_control = CacheControlHeader(no_store=True)
    response_headers = [ResponseHeader(name="Vary", value="HX-Request, Cookie")]

    @post("/", name="studio:set_currency", status_code=200)
    async def set_currency(self, request: HTMXRequest, creator: CreatorDep) -> Response[Any]:
        if not creator.handle:  # the Earnings card comes with a page
            raise NotFoundException("Claim your handle first.")
        currency = await _posted_currency(request)
        form = Form(values={"currency": currency})
        if currency == creator.currency:
            return await _answer(
                request, creator, message=f"You already sell in {currency.upper()}."
            )
        try:
            creator = await switch_currency(creator, currency)
        except CurrencySwitchRefused as exc:
            form.errors["currency"] = str(exc)
            return await _answer(request, creator, status=422, currency_form=form)
        return await _answer(
            request,
            creator,
            message=f"You now sell in {currency.upper()}. Past sales keep their currency.",
        )
