"""For tests that call the convergence functions directly: unlocks with real checkouts and
payments at the live server's emulator, whose own webhooks to the app are dropped (armed by
`quiet_whop`) so that only the test decides who converges what, and when."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from app.db.tables import Unlock
from app.emulator import faults
from app.payments.unlocks import new_unlock_id
from app.whop import WhopClient
from tests.support.unlock_support import PAYS, add_premium, pay


@pytest.fixture
async def quiet_whop(emulator_control):
    """The emulator's webhooks to the app are lost for good (four dropped attempts)."""
    await faults.add_fault("drop", attempts=4, times=10_000)


@pytest.fixture
async def seller(whop: WhopClient, make_creator) -> dict[str, Any]:
    company = await whop.create_connected_company(title="Seller", email="seller@example.com")
    creator = await make_creator(handle="seller", whop_company_id=company.id, payout_enabled=True)
    creator["link"] = await add_premium(creator)
    return creator


async def open_unlock(
    whop: WhopClient,
    seller: dict[str, Any],
    *,
    price: int = 500,
    currency: str = "usd",
    charge: int | None = None,
    charge_currency: str | None = None,
    company_id: str | None = None,
    token_hash: str | None = None,
) -> dict[str, Any]:
    """A PENDING unlock with its checkout at Whop (by default for exactly its price)."""
    unlock_id = new_unlock_id()
    await Unlock.insert(
        Unlock(
            id=unlock_id,
            link=seller["link"]["id"],
            creator=seller["id"],
            link_title="Secret recipe",
            buyer_token_hash=token_hash or secrets.token_hex(32),
            price_cents=price,
            fee_cents=50,
            currency=currency,
        )
    )
    checkout = await whop.create_checkout_configuration(
        company_id=company_id or seller["whop_company_id"],
        price=charge or price,
        currency=charge_currency or currency,
        application_fee=50,
        metadata={"unlock_id": unlock_id},
        redirect_url=None,
    )
    await Unlock.update(
        {
            Unlock.checkout_id: checkout.id,
            Unlock.plan_id: checkout.plan_id,
            Unlock.purchase_url: checkout.purchase_url,
        }
    ).where(Unlock.id == unlock_id)
    return {"id": unlock_id, "checkout": checkout, "company_id": checkout.company_id}


async def buy(
    whop: WhopClient,
    unlock: dict[str, Any],
    card: str = PAYS,
    email: str = "buyer@example.com",
    country: str = "US",
) -> str:
    """Pay the unlock's checkout on Whop's hosted page (as a buyer from `country`, whose
    tax Whop adds); the new payment's id."""
    async with httpx.AsyncClient(timeout=10) as browser:
        r = await pay(
            browser, unlock["checkout"].purchase_url, card=card, email=email, country=country
        )
    assert r.status_code in (200, 402), r.text
    payments = [
        p
        async for p in whop.list_payments(
            unlock["company_id"], checkout_configuration_ids=[unlock["checkout"].id]
        )
    ]
    return payments[0].id  # newest first


async def status_of(unlock_id: str) -> dict[str, Any]:
    [row] = await Unlock.select().where(Unlock.id == unlock_id)
    return row
