"""Premium links from the buyer's side: what they may see, buying one, and keeping it.

A premium link's URL leaves the database only for a buyer whose cookie owns a COMPLETED
unlock of it (or whose browser was bound to the Whop account that paid). Everyone else gets
its title and price. Starting an unlock makes one PENDING row per buyer and link (a partial
unique index), and one checkout configuration per unlock (Whop's idempotency key is the
unlock's id), so double clicks, two tabs and retries after a Whop failure all share one
checkout instead of piling up half-made ones.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from app.db.outage import database_outage
from app.db.records import Record
from app.db.tables import Unlock, is_serial_id
from app.payments.buyer import Buyer
from app.payments.convergence import converge_return
from app.shared.fees import PriceRefused, money_rules
from app.shared.money import format_money
from app.shared.rules import is_safe_href
from app.whop import WhopClient, WhopError, WhopRateLimited, WhopRejected

log = logging.getLogger("app.payments.unlocks")

# The unlock fragment polls while the buyer could plausibly still be paying; after that it
# offers a "Check again" button instead of polling an abandoned checkout forever.
POLL_WINDOW = timedelta(minutes=15)
UNLOCK_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")

# Hand-written: ownership is part of each read's WHERE clause, and each write is one
# conditional statement (a partial unique index decides which of two clicks opens the
# unlock). Each read's columns are named as the fields of the record it fills.
_PREMIUM_SQL = """
SELECT l.id, l.title, l.price_cents, c.id AS creator_id, c.handle, c.currency,
       c.payout_enabled, c.whop_company_id AS company_id
  FROM link l JOIN creator c ON c.id = l.creator
 WHERE l.id = {} AND l.kind = 'premium' AND l.enabled AND c.handle IS NOT NULL
   AND (l.starts_at IS NULL OR l.starts_at <= now()) AND (l.ends_at IS NULL OR l.ends_at > now())
"""
# Whose unlock is it: this browser's token, or (for paid ones) an account bound to it.
_BEST_UNLOCK_SQL = """
SELECT u.id, u.status, u.checkout_id, u.purchase_url, u.created_at,
       CASE WHEN u.status = 'COMPLETED' THEN l.url END AS url
  FROM unlock u JOIN link l ON l.id = u.link
 WHERE u.link = {}
   AND (u.buyer_token_hash = {} OR (u.buyer_whop_user_id = ANY({}::text[])
                                    AND u.status IN ('COMPLETED', 'REFUNDED')))
 ORDER BY (u.status = 'COMPLETED') DESC, u.created_at DESC
 LIMIT 1
"""
_OWNED_UNLOCK_SQL = """
SELECT u.id, u.link, u.status, u.purchase_url, c.handle
  FROM unlock u JOIN creator c ON c.id = u.creator
 WHERE u.id = {}
   AND (u.buyer_token_hash = {} OR (u.buyer_whop_user_id = ANY({}::text[])
                                    AND u.status IN ('COMPLETED', 'REFUNDED')))
"""
_PENDING_SQL = """
SELECT id, price_cents, fee_cents, currency, purchase_url FROM unlock
 WHERE link = {} AND buyer_token_hash = {} AND status = 'PENDING'
"""
_OPEN_SQL = """
INSERT INTO unlock (id, link, creator, link_title, buyer_token_hash, status,
                    price_cents, fee_cents, currency)
VALUES ({}, {}, {}, {}, {}, 'PENDING', {}, {}, {})
ON CONFLICT (link, buyer_token_hash) WHERE status = 'PENDING' DO NOTHING
RETURNING id, price_cents, fee_cents, currency, purchase_url
"""
_RETIRE_SQL = """
UPDATE unlock SET status = 'EXPIRED', updated_at = now() WHERE id = {} AND status = 'PENDING'
"""
_REFUSED_SQL = """
UPDATE unlock SET status = 'FAILED', updated_at = now()
 WHERE id = {} AND status = 'PENDING' AND checkout_id IS NULL
"""
_CHECKOUT_SQL = """
UPDATE unlock SET checkout_id = {}, plan_id = {}, purchase_url = {}, updated_at = now()
 WHERE id = {} AND checkout_id IS NULL
RETURNING purchase_url
"""
_PURCHASES_SQL = """
SELECT u.link_title, u.completed_at, c.handle, c.display_name
  FROM unlock u JOIN creator c ON c.id = u.creator
 WHERE u.buyer_whop_user_id = {} AND u.status = 'COMPLETED'
 ORDER BY u.completed_at DESC
 LIMIT 100
"""


@dataclass(frozen=True, slots=True)
class PremiumLink(Record):
    """What anyone may know about a premium link: never its URL."""

    id: int
    title: str
    handle: str
    price_cents: int | None
    currency: str
    creator_id: int
    company_id: str | None
    payout_enabled: bool

    @property
    def for_sale(self) -> bool:
        return bool(self.payout_enabled and self.company_id and (self.price_cents or 0) > 0)

    @property
    def price(self) -> str:
        return format_money(self.price_cents, self.currency) if self.price_cents else ""


@dataclass(frozen=True, slots=True)
class BuyerUnlock(Record):
    """The buyer's most telling unlock of a link; `url` is the link's, read only when the
    unlock is COMPLETED."""

    id: str
    status: str
    checkout_id: str | None
    purchase_url: str | None
    created_at: datetime
    url: str | None


@dataclass(frozen=True, slots=True)
class OwnedUnlock(Record):
    """An unlock the asking buyer owns, and where its link is shown."""

    id: str
    link: int | None  # None once the creator deleted the link
    status: str
    purchase_url: str | None
    handle: str | None


@dataclass(frozen=True, slots=True)
class OpenUnlock(Record):
    """A PENDING unlock, with the terms its checkout is (or will be) made for."""

    id: str
    price_cents: int
    fee_cents: int
    currency: str
    purchase_url: str | None


@dataclass(frozen=True, slots=True)
class Purchase(Record):
    """A link a Whop account bought and still owns ("Restore purchases")."""

    link_title: str
    completed_at: datetime
    handle: str | None
    display_name: str


@dataclass(frozen=True, slots=True)
class Panel:
    """One buyer's view of one premium link; `url` is set only for its owner."""

    link: PremiumLink
    state: str  # offer | unavailable | pending | completed | failed | refunded | expired
    unlock_id: str | None = None
    url: str | None = None
    purchase_url: str | None = None
    polling: bool = False
    polls_until: datetime | None = None  # when a pending panel stops polling by itself
    message: str | None = None

    @property
    def settled(self) -> bool:
        """Nothing left to wait for: the status answer tells htmx to stop polling (286)."""
        return not self.polling


class UnlockRefused(Exception):
    """The link cannot be bought right now; the message is for the buyer."""


class CheckoutUnavailable(Exception):
    """Whop could not make the checkout; nothing was charged and a retry is safe, after
    `retry_after` seconds when Whop said how long it is too busy to take one."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _unavailable(exc: WhopError) -> CheckoutUnavailable:
    """What the buyer is told when Whop made no checkout, with Whop's wait when it is busy:
    its rate limit is per operation for the whole platform, so a sale can use it up."""
    if not isinstance(exc, WhopRateLimited):
        return CheckoutUnavailable(
            "We could not reach the payment provider. Nothing was charged; "
            "please try again in a moment."
        )
    seconds = math.ceil(exc.retry_after) if exc.retry_after else None
    when = f"in {seconds} second{'s' if seconds != 1 else ''}" if seconds else "in a moment"
    return CheckoutUnavailable(
        f"The payment provider is busy. Nothing was charged; please try again {when}.",
        retry_after=seconds,
    )


def new_unlock_id() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, 144 random bits


async def premium_link(link_id: int) -> PremiumLink | None:
    """A premium link visible on its creator's page now, or None."""
    if not is_serial_id(link_id):
        return None
    rows = await Unlock.raw(_PREMIUM_SQL, link_id)
    return PremiumLink.from_row(rows[0]) if rows else None


def _ownership(buyer: Buyer) -> tuple[str, list[str]]:
    return buyer.token_hash, list(buyer.whop_user_ids)


def panel_from(link: PremiumLink, unlock: BuyerUnlock | None, message: str | None = None) -> Panel:
    """The panel for the buyer's most telling unlock of `link` (None: they have none)."""
    fallback = "offer" if link.for_sale else "unavailable"
    if unlock is None:
        return Panel(link, fallback, message=message)
    status, unlock_id = unlock.status, unlock.id
    if status == "COMPLETED":
        url = unlock.url if unlock.url and is_safe_href(unlock.url) else None
        return Panel(link, "completed", unlock_id, url=url)
    if status == "PENDING" and unlock.purchase_url:
        until = unlock.created_at + POLL_WINDOW
        return Panel(
            link,
            "pending",
            unlock_id,
            purchase_url=unlock.purchase_url,
            polling=datetime.now(UTC) < until,
            polls_until=until,
            message=message,
        )
    if status == "FAILED" and unlock.checkout_id:
        return Panel(link, "failed", unlock_id, message=message)
    if status in ("REFUNDED", "EXPIRED"):
        return Panel(link, status.lower(), unlock_id, message=message)
    return Panel(link, fallback, unlock_id, message=message)  # a checkout that never started


async def panel_for(link: PremiumLink, buyer: Buyer | None, message: str | None = None) -> Panel:
    if buyer is None:
        return panel_from(link, None, message)
    rows = await Unlock.raw(_BEST_UNLOCK_SQL, link.id, *_ownership(buyer))
    return panel_from(link, BuyerUnlock.from_row(rows[0]) if rows else None, message)


async def owned_unlock(unlock_id: str, buyer: Buyer | None) -> OwnedUnlock | None:
    """The unlock if this buyer owns it (anyone else: None, shown as a 404)."""
    if buyer is None or not UNLOCK_ID.fullmatch(unlock_id):
        return None
    rows = await Unlock.raw(_OWNED_UNLOCK_SQL, unlock_id, *_ownership(buyer))
    return OwnedUnlock.from_row(rows[0]) if rows else None


@dataclass(frozen=True, slots=True)
class UnlockStart:
    """Where an Unlock click leads: Whop's checkout, or the link they already own."""

    unlock_id: str | None = None
    checkout_url: str | None = None
    owned: Panel | None = None


async def start_unlock(
    whop: WhopClient, app_url: str, link: PremiumLink, buyer: Buyer
) -> UnlockStart:
    current = await panel_for(link, buyer)
    if current.state == "completed":
        return UnlockStart(unlock_id=current.unlock_id, owned=current)
    if not link.for_sale or link.price_cents is None:
        raise UnlockRefused(f"“{link.title}” is not for sale right now.")
    rules = await money_rules()
    try:
        rules.check_price(link.price_cents, link.currency)
    except PriceRefused:
        log.warning("link %s has a price the platform no longer accepts", link.id)
        raise UnlockRefused(f"“{link.title}” is not for sale right now.") from None
    fee = rules.fee_for(link.price_cents, link.currency)

    unlock = await _open_unlock(link, buyer, fee)
    if unlock.purchase_url:
        return UnlockStart(unlock_id=unlock.id, checkout_url=unlock.purchase_url)
    try:
        checkout = await whop.create_checkout_configuration(
            company_id=link.company_id or "",
            price=link.price_cents,
            currency=link.currency,
            application_fee=fee,
            metadata={"unlock_id": unlock.id},
            redirect_url=f"{app_url}/checkout/confirm?unlock={unlock.id}",
            title=link.title,
            idempotency_key=f"linkmint-unlock-{unlock.id}",
        )
    except WhopRejected as exc:
        # Whop said no (retrying the same request cannot help): close this unlock so the
        # next click starts afresh, once the creator's account is sorted out.
        await Unlock.raw(_REFUSED_SQL, unlock.id)
        log.error("Whop refused the checkout for unlock %s: %s", unlock.id, exc)
        raise CheckoutUnavailable(
            "The checkout could not be opened for this link. Nothing was charged."
        ) from exc
    except WhopError as exc:
        # Left PENDING without a checkout: the next click reuses it with the same
        # idempotency key, so a checkout Whop made but could not tell us about is found.
        log.warning("no checkout for unlock %s yet: %s", unlock.id, exc)
        raise _unavailable(exc) from exc
    if (checkout.currency, checkout.price) != (link.currency, link.price_cents):
        # Not the checkout asked for (a currency such as whop_usd, another price): nobody
        # may pay it. Asking again gets the same one (the idempotency key), so close it.
        await Unlock.raw(_REFUSED_SQL, unlock.id)
        log.error(
            "Whop opened checkout %s for unlock %s at %s %s, not %s %s",
            checkout.id,
            unlock.id,
            checkout.price,
            checkout.currency,
            link.price_cents,
            link.currency,
        )
        offered = (
            f"in {checkout.currency.upper()}, not {link.currency.upper()}"
            if checkout.currency != link.currency
            else f"at {format_money(checkout.price, checkout.currency)}, not {link.price}"
        )
        raise CheckoutUnavailable(
            f"The payment provider offered this link {offered}, so the checkout was not "
            "opened. Nothing was charged."
        )
    if urlsplit(checkout.purchase_url).scheme not in ("https", "http"):
        raise CheckoutUnavailable("The payment provider sent an unusable checkout address.")
    rows = await Unlock.raw(
        _CHECKOUT_SQL, checkout.id, checkout.plan_id, checkout.purchase_url, unlock.id
    )
    if not rows:  # a concurrent click stored the (same) checkout first
        rows = await Unlock.select(Unlock.purchase_url).where(Unlock.id == unlock.id)
    return UnlockStart(unlock_id=unlock.id, checkout_url=rows[0]["purchase_url"])


async def _open_unlock(link: PremiumLink, buyer: Buyer, fee: int) -> OpenUnlock:
    """This buyer's PENDING unlock of `link` at today's price, made if there is none."""
    for _ in range(3):
        pending = await Unlock.raw(_PENDING_SQL, link.id, buyer.token_hash)
        if pending:
            unlock = OpenUnlock.from_row(pending[0])
            if (unlock.price_cents, unlock.fee_cents, unlock.currency) == (
                link.price_cents,
                fee,
                link.currency,
            ):
                return unlock
            # The price changed since that checkout was made: retire it for a fresh one.
            await Unlock.raw(_RETIRE_SQL, unlock.id)
            continue
        opened = await Unlock.raw(
            _OPEN_SQL,
            new_unlock_id(),
            link.id,
            link.creator_id,
            link.title[:100],
            buyer.token_hash,
            link.price_cents,
            fee,
            link.currency,
        )
        if opened:
            return OpenUnlock.from_row(opened[0])
    raise RuntimeError(f"could not open an unlock of link {link.id}")  # pragma: no cover


async def purchases_of(whop_user_id: str) -> list[Purchase]:
    """What a Whop account has bought and still owns (for "Restore purchases")."""
    return [Purchase.from_row(row) for row in await Unlock.raw(_PURCHASES_SQL, whop_user_id)]


_RETURN_SQL = """
SELECT u.id, u.link, u.status, u.provider_payment_id, c.handle
  FROM unlock u JOIN creator c ON c.id = u.creator
 WHERE u.id = {}
"""
PAYMENT_ID = re.compile(r"pay_[A-Za-z0-9]{1,60}")


@dataclass(frozen=True, slots=True)
class ReturningUnlock(Record):
    """The unlock a buyer comes back from checkout for."""

    id: str
    link: int | None
    status: str
    provider_payment_id: str | None
    handle: str | None


# How long the buyer's return waits, in all, before the page takes over (its unlock panel
# polls while the webhook or the reconciler finish): the Whop client alone may retry a slow
# Whop for twenty seconds and more, far longer than anyone watches a blank tab.
RETURN_WAIT = 3.0


class ReturnDelayed(Exception):
    """The database could not be reached during the buyer's return; the same return, tried
    again, finishes the job (converging twice changes nothing)."""


async def return_from_checkout(whop: WhopClient, unlock_id: str, payment_id: str | None) -> str:
    """Converge the unlock a buyer comes back for; the page to send them to.

    Nothing in the query string is believed: the payment id only says which payment to ask
    Whop about (without one, Whop is asked for the checkout's payments). If Whop cannot be
    reached within RETURN_WAIT, the buyer still goes back to the page, where the unlock keeps
    polling while the webhook or the reconciler finish the job. Raises LookupError for an
    unknown unlock, ReturnDelayed while the database cannot be reached.
    """
    if not UNLOCK_ID.fullmatch(unlock_id):
        raise LookupError(unlock_id)
    if payment_id is not None and not PAYMENT_ID.fullmatch(payment_id):
        payment_id = None
    deadline = asyncio.get_running_loop().time() + RETURN_WAIT
    try:
        async with asyncio.timeout_at(deadline):
            rows = await Unlock.raw(_RETURN_SQL, unlock_id)
        unlock = ReturningUnlock.from_row(rows[0]) if rows else None
        if unlock and not _settled(unlock, payment_id):
            await _converge_by(deadline, whop, unlock_id, payment_id)
    except Exception as exc:
        if isinstance(exc, TimeoutError) or database_outage(exc):
            log.warning("buyer back for unlock %s; the database did not answer: %r", unlock_id, exc)
            raise ReturnDelayed(unlock_id) from exc
        raise
    if unlock is None:
        raise LookupError(unlock_id)
    anchor = f"#premium-{unlock.link}" if unlock.link else ""
    return f"/{unlock.handle}{anchor}"


def _settled(unlock: ReturningUnlock, payment_id: str | None) -> bool:
    """Nothing to ask Whop: this payment (or any, without an id) already settled the unlock.
    Another payment id for a paid unlock is a second charge, which converging refunds."""
    paid = unlock.status in ("COMPLETED", "REFUNDED")
    return paid and payment_id in (None, unlock.provider_payment_id)


async def _converge_by(
    deadline: float, whop: WhopClient, unlock_id: str, payment_id: str | None
) -> None:
    try:
        async with asyncio.timeout_at(deadline) as budget:
            await converge_return(whop, unlock_id, payment_id)  # at most once in a few seconds
    except WhopError as exc:
        log.warning("buyer back for unlock %s before Whop could confirm: %s", unlock_id, exc)
    except TimeoutError:
        if not budget.expired():
            raise
        log.warning("buyer back for unlock %s; Whop did not answer in time", unlock_id)
