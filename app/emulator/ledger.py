"""Each company's money at the emulated Whop: a ledger of movements and its withdrawals.

A paid payment credits the connected company with its price before tax (Whop, the merchant
of record, keeps the tax to remit it) and debits the platform's application fee, which is
credited to the parent (Whop's direct-charge example: 10.00 with a 1.23 fee leaves 8.77). A
refund debits the connected company with all of it but its tax part — "the connected account
handles any disputes or refunds"; the application fee is not returned. A withdrawal
debits the balance and needs a payout method. Balances are sums of the ledger, and one
movement is recorded once (a unique key on company, kind and reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg

from app.config import Settings, whop_id
from app.emulator import delivery, shapes
from app.emulator.protocol import (
    ApiError,
    Principal,
    amount_param,
    company_param,
    currency_param,
    visible_company,
)


async def record(
    conn: asyncpg.Connection,
    company_id: str,
    currency: str,
    amount: Decimal,
    kind: str,
    reference_id: str,
) -> None:
    await conn.execute(
        """
        INSERT INTO whop_emulator.ledger_entry (company_id, currency, amount, kind, reference_id)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (company_id, kind, reference_id) DO NOTHING
        """,
        company_id,
        currency,
        amount,
        kind,
        reference_id,
    )


async def balances(conn: asyncpg.Connection, company_id: str) -> dict[str, Decimal]:
    rows = await conn.fetch(
        "SELECT currency, sum(amount) AS balance FROM whop_emulator.ledger_entry"
        " WHERE company_id = $1 GROUP BY currency ORDER BY currency",
        company_id,
    )
    return {r["currency"]: r["balance"] for r in rows}


async def ledger_account(
    conn: asyncpg.Connection, principal: Principal, company_id: str
) -> dict[str, Any]:
    """`GET /ledger_accounts/{biz}`: balances and the payout account's status
    (docs/whop-contract.md §5b)."""
    company = await visible_company(conn, principal, company_id)
    amounts = await balances(conn, company["id"]) or {"usd": Decimal(0)}
    return {
        "id": "ldgr_" + company["id"].removeprefix("biz_"),
        "ledger_type": "primary",  # a company's own account; "pool" accounts are Whop's
        "owner": {
            "typename": "Company",
            "id": company["id"],
            "route": shapes.route(company["title"]),
            "title": company["title"],
        },
        "payments_approval_status": "approved",
        "transfer_fee": None,
        "treasury_balance": None,
        "balances": [
            {
                "balance": shapes.money(amount),
                "currency": currency,
                "pending_balance": 0.0,
                "reserve_balance": 0.0,
            }
            for currency, amount in amounts.items()
        ],
        "payout_account_details": {
            "id": company["payout_account_id"],
            "status": company["kyc_status"],
            "email": company["email"],
            "business_name": company["title"],
            "latest_verification": None,
        },
    }


async def withdraw(
    conn: asyncpg.Connection,
    settings: Settings,
    principal: Principal,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    company = await visible_company(conn, principal, company_param(body))
    currency = currency_param(body.get("currency") or "usd")
    amount = amount_param(body.get("amount"), "amount", currency)
    method = await conn.fetchval(
        "SELECT id FROM whop_emulator.payout_method WHERE company_id = $1 AND is_default",
        company["id"],
    )
    if method is None:
        raise ApiError(
            422,
            f"Company {company['id']} has no payout method yet: finish verification first",
            code="payout_method_missing",
        )
    # One withdrawal at a time per company, so two cannot both spend the same balance.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", company["id"])
    available = (await balances(conn, company["id"])).get(currency, Decimal(0))
    if amount > available:
        raise ApiError(
            422,
            f"Insufficient balance: {available} {currency} available, {amount} requested",
            code="insufficient_balance",
            param="amount",
        )
    row = await conn.fetchrow(
        """
        INSERT INTO whop_emulator.withdrawal (id, company_id, payout_method_id, amount, currency,
                                              status)
        VALUES ($1, $2, $3, $4, $5, 'completed') RETURNING *
        """,
        whop_id("wdrl_"),
        company["id"],
        method,
        amount,
        currency,
    )
    await record(conn, company["id"], currency, -amount, "withdrawal", row["id"])
    data = shapes.withdrawal(row)
    await delivery.emit(conn, settings, "withdrawal.created", company["id"], data)
    return data


async def withdrawals_query(
    conn: asyncpg.Connection, principal: Principal, params: Mapping[str, Any]
) -> tuple[str, list[Any]]:
    company = await visible_company(conn, principal, company_param(params))
    return "SELECT * FROM whop_emulator.withdrawal WHERE company_id = $1", [company["id"]]
