"""A sale as the payment flow leaves it, written straight into `unlock` for tests that need
sales to show (earnings, the CSV, Insights, the studio on a phone)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from app.db.tables import Unlock


async def record_sale(
    creator: dict[str, Any],
    *,
    at: datetime,
    title: str = "Secret recipe",
    status: str = "COMPLETED",
    price: int = 499,
    fee: int = 50,
    currency: str = "usd",
    refunded: int = 0,
    buyer: str | None = None,
) -> str:
    """An unlock of `creator`'s, paid at `at` (paid ones know their payment; a REFUNDED one
    was refunded in full an hour later). Returns its id."""
    paid = status in ("COMPLETED", "REFUNDED")
    unlock_id = secrets.token_urlsafe(16)
    await Unlock.insert(
        Unlock(
            id=unlock_id,
            creator=creator["id"],
            link_title=title,
            buyer_token_hash=secrets.token_hex(32),
            buyer_whop_user_id=buyer,
            status=status,
            price_cents=price,
            fee_cents=fee,
            currency=currency,
            provider_payment_id=f"pay_{unlock_id}" if paid else None,
            completed_via="webhook" if paid else None,
            created_at=at - timedelta(minutes=1),
            completed_at=at if paid else None,
            refunded_at=at + timedelta(hours=1) if status == "REFUNDED" else None,
            refunded_cents=price if status == "REFUNDED" else refunded,
        )
    )
    return unlock_id
