"""Whether a creator can be paid: the one place that sets `creator.payout_enabled`.

The flag is only ever set from Whop's own answer, never from a redirect or a query string:
the return from hosted KYC, and the payout-method and verification webhooks, all call
`refresh_payout_status`, which asks Whop for the company's payout methods.
"""

from __future__ import annotations

from app.db.tables import Creator
from app.whop import WhopClient

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
