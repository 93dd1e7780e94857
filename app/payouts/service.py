"""Whether a creator can be paid: the one place that sets `creator.payout_enabled`.

The flag is only ever set from Whop's own answer, never from a redirect or a query string:
the return from hosted KYC, and the payout-method and verification webhooks, all call
`refresh_payout_status`, which asks Whop for the company's payout methods. Those webhooks
reach it through `payout_event`, registered with the inbox's registry (`app.whop.events`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.db.tables import Creator
from app.whop import WhopClient
from app.whop.events import AfterCommit, Change, done, event_data, handles, whop_id

log = logging.getLogger("app.payouts")

# One statement: set the flag on the creator who owns the company. `updated_at` moves only
# when the flag does, so a webhook re-check that changes nothing leaves the row alone.
_SET_PAYOUT_ENABLED = """
UPDATE creator
   SET payout_enabled = {},
       updated_at = CASE WHEN payout_enabled = {} THEN updated_at ELSE now() END
 WHERE whop_company_id = {}
RETURNING payout_enabled
"""


async def refresh_payout_status(whop: WhopClient, company_id: str) -> bool:
    """Ask Whop whether `company_id` has a usable payout method and record the answer on the
    creator with that company. Returns the creator's `payout_enabled` afterwards (False when
    no creator has this company). Whop failures propagate (`WhopError`): the caller decides
    whether to retry (the webhook inbox) or to tell the creator (the studio)."""
    ready = await whop.payout_ready(company_id)
    rows = await Creator.raw(_SET_PAYOUT_ENABLED, ready, ready, company_id)
    return bool(rows and rows[0]["payout_enabled"])


@handles("payout_method.created", "verification.succeeded", "payout_account.status_updated")
async def payout_event(
    whop: WhopClient, event_type: str, payload: Mapping[str, Any], after_commit: AfterCommit | None
) -> Change:
    """Re-check the company the event names. Whop's answer sets the flag before the event's
    transaction (it must not wait on Whop); repeating it changes nothing."""
    # `payout_method.created` names it at `data.company.id`, top-level `company_id` null.
    data = event_data(payload)
    company = data.get("company")
    company_id = (
        whop_id(payload.get("company_id"))
        or whop_id(data.get("company_id"))
        or whop_id(company.get("id") if isinstance(company, Mapping) else None)
    )
    if company_id is None:
        log.warning("%s event without a company id; nothing to re-check", event_type)
        return done("no_company")
    enabled = await refresh_payout_status(whop, company_id)
    return done("payout_enabled" if enabled else "payout_not_ready")
