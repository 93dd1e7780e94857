"""Connected companies, their onboarding links and KYC, and their payout methods.

A company created with the platform's API key is a child of the platform (the parent);
it starts unverified (`kyc_status = not_started`) with no payout method. An
`account_onboarding` link opens the hosted KYC page (`hosted.py`); completing it marks the
company `connected` and adds a default bank payout method — which is what Linkmint checks
(docs/whop-contract.md §5a). Failing it marks the company `verification_failed`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.config import Settings, whop_id
from app.emulator import delivery, shapes, store
from app.emulator.protocol import (
    ApiError,
    Principal,
    company_param,
    invalid,
    missing,
    return_url_param,
    text,
    visible_company,
)

LINK_LIFETIME = timedelta(minutes=30)
# Whop also offers `payouts_portal` (a hosted payouts dashboard); Linkmint embeds the payout
# components instead, so the emulator hosts the onboarding page only.
USE_CASES = {"account_onboarding": "kyc"}


def metadata_param(body: Mapping[str, Any], key: str = "metadata") -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(key, "must be an object of keys and values")
    if len(value) > 50:
        raise invalid(key, "may hold at most 50 keys")
    return value


async def create_company(
    conn: asyncpg.Connection, principal: Principal, body: Mapping[str, Any]
) -> dict[str, Any]:
    principal.require_api_key()
    title = text(body, "title")
    if len(title) > 100:
        raise invalid("title", "must be at most 100 characters")
    parent = text(body, "parent_company_id", required=False)
    if parent is None:
        raise ApiError(
            400,
            "Missing required parameter: parent_company_id (an API key creates connected "
            "companies under its own company)",
            code="parameter_missing",
            param="parent_company_id",
        )
    if parent != principal.company_id:
        raise ApiError(
            403,
            f"Company {parent} is not this API key's company; connected companies can only "
            "be created under your own company",
        )
    email = text(body, "email", required=False)
    if email is None:
        raise missing("email")
    if "@" not in email.strip("@"):
        raise invalid("email", "must be an email address")
    row = await conn.fetchrow(
        """
        INSERT INTO whop_emulator.company (id, parent_id, title, email, metadata, payout_account_id)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING *
        """,
        whop_id("biz_"),
        parent,
        title,
        email,
        store.dumps(metadata_param(body)),
        whop_id("poact_"),
    )
    return shapes.company(row)


async def retrieve_company(
    conn: asyncpg.Connection, principal: Principal, company_id: str
) -> dict[str, Any]:
    return shapes.company(await visible_company(conn, principal, company_id))


async def create_account_link(
    conn: asyncpg.Connection, principal: Principal, body: Mapping[str, Any], app_url: str
) -> dict[str, Any]:
    principal.require_api_key()
    company = await visible_company(conn, principal, company_param(body))
    use_case = text(body, "use_case")
    if use_case == "payouts_portal":
        raise invalid("use_case", "the emulator hosts account_onboarding pages only")
    if use_case not in USE_CASES:
        raise invalid("use_case", "must be account_onboarding or payouts_portal")
    return_url = return_url_param(body, "return_url", own_origin=app_url)
    refresh_url = return_url_param(body, "refresh_url", own_origin=app_url)
    return await new_account_link(
        conn, company["id"], use_case, return_url, refresh_url, app_url=app_url
    )


async def new_account_link(
    conn: asyncpg.Connection,
    company_id: str,
    use_case: str,
    return_url: str,
    refresh_url: str,
    *,
    app_url: str,
) -> dict[str, Any]:
    """A link to the hosted page for `use_case`; the caller has checked who may ask."""
    token = secrets.token_urlsafe(24)
    expires_at = datetime.now(UTC) + LINK_LIFETIME
    await conn.execute(
        """
        INSERT INTO whop_emulator.account_link
            (token, company_id, use_case, return_url, refresh_url, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        token,
        company_id,
        use_case,
        return_url,
        refresh_url,
        expires_at,
    )
    return {
        "url": f"{app_url}/_whop/hosted/{USE_CASES[use_case]}/{token}",
        "expires_at": store.iso(expires_at),
    }


async def payout_methods_query(
    conn: asyncpg.Connection, principal: Principal, params: Mapping[str, Any]
) -> tuple[str, list[Any]]:
    company = await visible_company(conn, principal, company_param(params))
    return "SELECT * FROM whop_emulator.payout_method WHERE company_id = $1", [company["id"]]


# --- the hosted onboarding page's side -----------------------------------------------------


async def account_link(conn: asyncpg.Connection, token: str) -> asyncpg.Record | None:
    """The link with its company's title and KYC state, whatever its own state."""
    return await conn.fetchrow(
        """
        SELECT l.*, c.title AS company_title, c.kyc_status, c.parent_id, c.payout_account_id,
               (l.outcome IS NULL AND l.expires_at > now()) AS usable
          FROM whop_emulator.account_link l
          JOIN whop_emulator.company c ON c.id = l.company_id
         WHERE l.token = $1
        """,
        token,
    )


async def finish_onboarding(
    conn: asyncpg.Connection,
    settings: Settings,
    token: str,
    outcome: str,
    *,
    legal_name: str = "",
    country: str = "US",
    account_number: str = "",
) -> bool:
    """Record the person's choice on the KYC page, once; False if the link was not usable."""
    link = await conn.fetchrow(
        """
        UPDATE whop_emulator.account_link SET outcome = $2, finished_at = now()
         WHERE token = $1 AND outcome IS NULL AND expires_at > now()
           AND use_case = 'account_onboarding'
        RETURNING company_id
        """,
        token,
        outcome,
    )
    if link is None:
        return False
    company_id = link["company_id"]
    if outcome == "completed":
        company = await conn.fetchrow(
            "UPDATE whop_emulator.company SET kyc_status = 'connected', updated_at = now()"
            " WHERE id = $1 RETURNING *",
            company_id,
        )
        last4 = account_number[-4:]
        method = await conn.fetchrow(
            """
            INSERT INTO whop_emulator.payout_method
                (id, company_id, currency, is_default, nickname, institution_name,
                 account_reference, destination)
            VALUES ($1, $2, 'usd',
                    NOT EXISTS (SELECT 1 FROM whop_emulator.payout_method
                                 WHERE company_id = $2 AND is_default),
                    $3, 'Emulator Test Bank', $4, $5::jsonb)
            RETURNING *
            """,
            whop_id("potk_"),
            company_id,
            f"Checking ••••{last4}",
            f"••••{last4}",
            store.dumps(
                {
                    "category": "next_day_bank",  # one of Whop's destination categories
                    "country_code": country,
                    "name": f"Emulator Test Bank ••••{last4} ({legal_name})",
                }
            ),
        )
        verification = {
            "id": whop_id("verf_"),
            "status": "approved",
            "last_error_code": None,
            "last_error_reason": None,
            "payout_account_id": company["payout_account_id"],
        }
        await delivery.emit(conn, settings, "verification.succeeded", company_id, verification)
        await delivery.emit(
            conn, settings, "payout_method.created", company_id, shapes.payout_method(method)
        )
    elif outcome == "failed":
        company = await conn.fetchrow(
            "UPDATE whop_emulator.company SET kyc_status = 'verification_failed',"
            " updated_at = now() WHERE id = $1 RETURNING *",
            company_id,
        )
        await delivery.emit(
            conn,
            settings,
            "payout_account.status_updated",
            company_id,
            {"id": company["payout_account_id"], "status": "verification_failed"},
        )
    return True
