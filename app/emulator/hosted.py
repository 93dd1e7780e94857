"""The pages Whop hosts for people: KYC onboarding and checkout. Plain forms, no script.

KYC (`/_whop/hosted/kyc/{token}`, from an `account_onboarding` account link): the person
submits (their company becomes `connected` with a payout method), fails verification, or
leaves; each ends at the link's `return_url`. An expired or already used link sends them to
`refresh_url`, where the platform makes a fresh one.

Checkout (`/_whop/checkout/{plan}?session={ch_…}`, a configuration's `purchase_url`):
4242 4242 4242 4242 pays and 4000 0000 0000 0002 is declined. The buyer's country sets the
tax Whop adds on top of the price (the control setting `tax_rates`). Paying redirects to the
configuration's `redirect_url` with `payment_id` and `checkout_status=success` added to its
query (docs/whop-contract.md §6.3); a decline stays on the page to try another card, with a way back
(`checkout_status=error`). Each rendering of the form carries an attempt token, so a form
posted twice is one payment, while two tabs are two.

Each page's `form-action` names, besides 'self', the origins its own link or configuration
returns to and no others: the redirect after a post is checked against it, and a caller
(another app, Whop's SDK) may be on another origin than the emulator.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from litestar import MediaType, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.config import Settings
from app.emulator import companies, delivery, faults, payments, store
from app.shared.money import format_money
from app.web.deps import SettingsDep
from app.web.headers import allow_form_redirects
from app.whop.money import to_minor

COUNTRIES = (
    ("US", "United States"),
    ("GB", "United Kingdom"),
    ("CA", "Canada"),
    ("AU", "Australia"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("NL", "Netherlands"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("IE", "Ireland"),
)
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")


def format_price(amount: Decimal, currency: str) -> str:
    """A major-unit amount as the checkout shows it, in the currency's own decimals."""
    return format_money(to_minor(amount, currency), currency)


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query, keeping the query it already had."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


# --- KYC ------------------------------------------------------------------------------------


def _kyc_page(
    link: Any, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> Template:
    return Template(
        template_name="emulator/kyc.html",
        context={
            "token": link["token"],
            "company_title": link["company_title"],
            "countries": COUNTRIES,
            "form": form,
            "errors": errors,
            "problem": "Please correct the fields marked below." if errors else None,
        },
        status_code=status,
        media_type=MediaType.HTML,  # explicit: never guessed from the name or the route
    )


async def _onboarding_link(token: str, request: Request, settings: Settings) -> Any:
    """The link, with this response's form allowed to end at its return and refresh URLs."""
    async with store.connection() as conn:
        link = await companies.account_link(conn, token)
    if link is None or link["use_case"] != "account_onboarding":
        raise NotFoundException("This verification link does not exist.")
    allow_form_redirects(request.scope, settings.app_url, link["return_url"], link["refresh_url"])
    return link


@get("/hosted/kyc/{token:str}", name="emulator:kyc", media_type=MediaType.HTML)
async def kyc_page(
    token: FromPath[str], request: Request, settings: SettingsDep
) -> Template | Redirect:
    link = await _onboarding_link(token, request, settings)
    if not link["usable"]:
        return Redirect(link["refresh_url"], status_code=303)
    return _kyc_page(link, {"legal_name": "", "country": "US", "account_number": ""}, {})


@post("/hosted/kyc/{token:str}", media_type=MediaType.HTML)
async def kyc_submit(
    token: FromPath[str], request: Request, settings: SettingsDep
) -> Template | Redirect:
    link = await _onboarding_link(token, request, settings)
    submitted = await request.form()
    form = {
        "legal_name": (submitted.get("legal_name") or "").strip(),
        "country": (submitted.get("country") or "").strip().upper(),
        "account_number": re.sub(r"[\s-]", "", submitted.get("account_number") or ""),
    }
    outcome = {"complete": "completed", "fail": "failed", "abandon": "abandoned"}.get(
        submitted.get("action") or ""
    )
    if outcome is None:
        return _kyc_page(link, form, {"legal_name": "Choose one of the buttons below."}, 422)
    if outcome == "completed" and link["usable"]:
        errors = {}
        if not form["legal_name"]:
            errors["legal_name"] = "Enter the legal name of the person or business."
        if form["country"] not in dict(COUNTRIES):
            errors["country"] = "Choose a country from the list."
        if not (form["account_number"].isdigit() and 4 <= len(form["account_number"]) <= 17):
            errors["account_number"] = "Enter an account number of 4 to 17 digits."
        if errors:
            return _kyc_page(link, form, errors, 422)
    async with store.transaction() as conn:
        finished = await companies.finish_onboarding(
            conn,
            settings,
            token,
            outcome,
            legal_name=form["legal_name"],
            country=form["country"] or "US",
            account_number=form["account_number"],
        )
    delivery.wake()
    return Redirect(link["return_url"] if finished else link["refresh_url"], status_code=303)


# --- checkout -------------------------------------------------------------------------------


async def _session(
    plan_id: str, session_id: str | None, request: Request, settings: Settings
) -> Any:
    """The session, with this response's form allowed to end at its redirect URL."""
    if session_id:
        async with store.connection() as conn:
            session = await payments.checkout_session(conn, plan_id, session_id)
        if session is not None:
            allow_form_redirects(request.scope, settings.app_url, session["redirect_url"])
            return session
    raise NotFoundException("This checkout link does not exist.")


async def _tax_rates() -> list[tuple[str, str]]:
    """(country, rate) for each listed country Whop taxes, as the page shows them."""
    async with store.connection() as conn:
        rates = (await faults.control_settings(conn)).tax_rates
    return [(name, f"{rates[code]:g}%") for code, name in COUNTRIES if rates.get(code)]


async def _checkout_page(
    session: Any,
    form: dict[str, str],
    errors: dict[str, str],
    *,
    declined: str | None = None,
    back_url: str | None = None,
    status: int = 200,
) -> Template:
    return Template(
        template_name="emulator/checkout.html",
        context={
            "company_title": session["company_title"],
            "plan_title": session["title"],
            "plan_id": session["plan_id"],
            "session_id": session["id"],
            "price": format_price(session["initial_price"], session["currency"]),
            "countries": COUNTRIES,
            "tax_rates": await _tax_rates(),
            "attempt": secrets.token_urlsafe(16),  # a fresh attempt per rendered form
            "form": form,
            "errors": errors,
            "declined": declined,
            "back_url": back_url,
        },
        status_code=status,
        media_type=MediaType.HTML,  # explicit: never guessed from the name or the route
    )


def _card_errors(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not _EMAIL.match(form["email"]):
        errors["email"] = "Enter the email address for your receipt."
    elif len(form["email"]) > 254:  # the longest a Whop user's email may be
        errors["email"] = "An email address can have at most 254 characters."
    if form["country"] and form["country"] not in dict(COUNTRIES):
        errors["country"] = "Choose a country from the list."
    digits = payments.card_digits(form["card_number"])
    if not digits:
        errors["card_number"] = "Enter a card number."
    elif digits not in payments.TEST_CARDS:
        errors["card_number"] = (
            "Use a test card: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined."
        )
    match = re.fullmatch(r"(\d{1,2})\s*/\s*(\d{2}|\d{4})", form["expiry"])
    now = datetime.now(UTC)
    if not match or not 1 <= int(match[1]) <= 12:
        errors["expiry"] = "Enter the expiry as MM/YY."
    else:
        year = int(match[2]) + (2000 if len(match[2]) == 2 else 0)
        if (year, int(match[1])) < (now.year, now.month):
            errors["expiry"] = "This card has expired."
    if not re.fullmatch(r"\d{3,4}", form["cvc"]):
        errors["cvc"] = "Enter the 3 or 4 digits on the back."
    return errors


@get("/checkout/{plan_id:str}", name="emulator:checkout", media_type=MediaType.HTML)
async def checkout_page(
    plan_id: FromPath[str], request: Request, settings: SettingsDep
) -> Template:
    session = await _session(plan_id, request.query_params.get("session"), request, settings)
    form = {"email": "", "country": "US", "card_number": "", "expiry": "", "cvc": ""}
    return await _checkout_page(session, form, {})


@post("/checkout/{plan_id:str}", media_type=MediaType.HTML)
async def checkout_pay(
    plan_id: FromPath[str], request: Request, settings: SettingsDep
) -> Template | Redirect:
    submitted = await request.form()
    session = await _session(plan_id, submitted.get("session"), request, settings)
    form = {
        name: (submitted.get(name) or "").strip()
        for name in ("email", "country", "card_number", "expiry", "cvc")
    }
    form["country"] = form["country"].upper()  # (none posted: no tax)
    attempt = submitted.get("attempt") or ""
    errors = _card_errors(form)
    if not 16 <= len(attempt) <= 64:
        errors.setdefault("card_number", "This form is stale; please try again.")
    if errors:
        return await _checkout_page(session, form, errors, status=422)

    digits = payments.card_digits(form["card_number"])
    card = payments.TEST_CARDS[digits]
    async with store.transaction() as conn:
        payment = await payments.pay(
            conn,
            settings,
            session,
            email=form["email"],
            card=card,
            card_number=digits,
            attempt_token=attempt,
            country=form["country"] or None,
        )
        drop_redirect = payment["status"] == "paid" and await faults.take_redirect_fault(conn)
    delivery.wake()

    redirect_url = session["redirect_url"]
    if payment["status"] != "paid":
        back = None
        if redirect_url:
            back = with_query(redirect_url, payment_id=payment["id"], checkout_status="error")
        return await _checkout_page(
            session,
            {**form, "card_number": "", "cvc": ""},
            {},
            declined=payment["failure_message"] or "The payment failed.",
            back_url=back,
            status=402,
        )
    if redirect_url and not drop_redirect:
        return Redirect(
            with_query(redirect_url, payment_id=payment["id"], checkout_status="success"),
            status_code=303,
        )
    return Template(
        template_name="emulator/checkout_done.html",
        context={
            "price": format_price(payment["total"], payment["currency"]),
            "tax": (
                format_price(payment["tax_amount"], payment["currency"])
                if payment["tax_amount"]
                else None
            ),
            "company_title": session["company_title"],
            "payment_id": payment["id"],
            "card_last4": payment["card_last4"],
        },
        media_type=MediaType.HTML,
    )


HOSTED_ROUTES = [kyc_page, kyc_submit, checkout_page, checkout_pay]
