"""Enable earnings: a connected Whop company for the creator, then Whop's hosted KYC.

A creator gets at most one company, whatever the clicks, tabs or retries:
- the company is created with an `Idempotency-Key` derived from the creator's row, so a
  repeated or concurrent request (or one retried after a crash between Whop's answer and our
  write) gets the same company back from Whop;
- its id is stored with a conditional UPDATE (`… WHERE whop_company_id IS NULL`), so the
  first writer wins and everyone else reads what it stored.
If Whop fails at any step nothing is left half-made in the way of a retry: a company that
was created but not yet linked to a KYC session is simply reused next time.
"""

from __future__ import annotations

import hashlib

from app.auth.service import CreatorRecord, creator_by_id
from app.db.tables import Creator
from app.whop import WhopClient

# What the studio says after the return from Whop's hosted pages (`/dashboard?payouts=…`).
NOTICES = {
    "enabled": "Earnings are on. You can now price premium links.",
    "unfinished": (
        "Whop has not confirmed a payout method yet, so earnings are not on. "
        "Finish verification to start selling."
    ),
    "unchecked": (
        "We could not check with Whop just now, so nothing changed. Try “Check again” in a minute."
    ),
    "unreachable": (
        "Whop did not answer, so verification could not be reopened. "
        "Try “Finish verification” again in a minute."
    ),
}


# Hand-written: the condition is the rule. Of two concurrent clicks, the first company
# stored is the creator's, and the other click finds it instead of overwriting it.
_STORE_COMPANY_SQL = """
UPDATE creator SET whop_company_id = {}, updated_at = now()
 WHERE id = {} AND whop_company_id IS NULL
RETURNING whop_company_id
"""


class CannotOnboard(Exception):
    """Why earnings cannot be enabled yet, in a sentence for the creator."""


def company_idempotency_key(creator: CreatorRecord) -> str:
    """Stable for one creator row, across retries and app restarts, and never reused by
    another row (ids restart when a database is reset; the row's creation time does not)."""
    identity = f"{creator.id}:{creator.whop_user_id}:{creator.created_at.isoformat()}"
    return "linkmint-company-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def company_title(creator: CreatorRecord) -> str:
    return creator.display_name or creator.handle or ""


async def ensure_company(whop: WhopClient, creator: CreatorRecord) -> str:
    """The creator's connected company id, creating the company on first use."""
    if creator.whop_company_id:
        return creator.whop_company_id
    if not creator.handle:
        raise CannotOnboard("Claim your handle first, then enable earnings.")
    email = (creator.email or "").strip()
    if not email:
        raise CannotOnboard(
            "Whop needs an email address to set up payouts, and your Whop account did not "
            "share one with Linkmint. Add an email address to your Whop account, then sign "
            "out and sign in again."
        )
    company = await whop.create_connected_company(
        title=company_title(creator),
        email=email,
        metadata={"linkmint_creator_id": str(creator.id)},
        idempotency_key=company_idempotency_key(creator),
    )
    if await Creator.raw(_STORE_COMPANY_SQL, company.id, creator.id):
        return company.id
    # Someone else stored it first (a concurrent click): theirs is the one.
    now = await creator_by_id(creator.id)
    if now is None or now.whop_company_id is None:  # (creators are not deleted, nor companies)
        raise LookupError(f"creator {creator.id} has no company after all")
    return now.whop_company_id


async def onboarding_url(
    whop: WhopClient, company_id: str, *, return_url: str, refresh_url: str
) -> str:
    """A fresh link to Whop's hosted KYC for the company (links expire; make one per visit).
    Whop sends the creator to `return_url` when they finish and to `refresh_url` when the
    link has expired: both absolute, on this app."""
    link = await whop.create_account_link(
        company_id,
        use_case="account_onboarding",
        return_url=return_url,
        refresh_url=refresh_url,
    )
    return link.url
