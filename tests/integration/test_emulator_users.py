"""At the emulated Whop, as at Whop, an email is one account.

A guest checkout pays as the Whop user its email belongs to (made then if there is none),
so a buyer who later signs in with Whop using that email finds the purchase; a new user
made at the consent page with a known email is that user signing in, whatever the case.
Emulator tables outlive each test, so every email here carries a fresh tag.
"""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import secrets

from app.emulator import identity, store
from app.emulator.identity import AuthorizationCode, WhopUser
from tests.support.whop_browser import authorize_url, new_test_user, open_authorize_page
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    browser,
    checkout,
    connected_company,
    live_settings,
    pay,
    query_of,
)


def tagged_email(local: str = "gus") -> str:
    return f"{local}.{secrets.token_hex(5)}@example.com"


async def users_with(email: str) -> list[dict]:
    return await WhopUser.raw(
        "SELECT * FROM whop_emulator.whop_user WHERE lower(email) = lower({})", email
    )


async def guest_payment(api, browser, settings, email: str) -> dict:
    """A new checkout on a new company, paid as a guest with `email`; the API's payment."""
    company = await connected_company(api, settings)
    config = await checkout(api, company["id"])
    r = await pay(browser, config["purchase_url"], email=email)
    assert r.status_code == 303, r.text
    payment_id = query_of(r.headers["location"])["payment_id"]
    return (await api.get(f"/payments/{payment_id}")).json()


async def consent_user(client, settings, **user: str) -> str:
    """Approve the consent page as a "new test user"; the user id the code was issued to."""
    page = await open_authorize_page(client, authorize_url(settings))
    r = await page.approve_new_user(**user)
    assert r.status_code == 302, r.text
    code = query_of(r.headers["location"])["code"]
    row = (
        await AuthorizationCode.select(AuthorizationCode.user_id)
        .where(AuthorizationCode.code_hash == identity.digest(code))
        .first()
    )
    return row["user_id"]


# --- guest checkouts ---------------------------------------------------------------------


async def test_a_guest_checkout_makes_the_whop_user_its_email_belongs_to(
    api, browser, live_settings
):
    email = tagged_email()
    payment = await guest_payment(api, browser, live_settings, f"  {email}  ")

    [user] = await users_with(email)
    assert user["email"] == email  # stored as typed, without the spaces
    assert user["id"].startswith("user_") and len(user["id"]) == 19
    assert payment["user"]["id"] == user["id"]
    assert payment["user"]["email"] == email
    assert (user["name"], user["username"]) == (email.split("@")[0],) * 2
    assert (payment["user"]["name"], payment["user"]["username"]) == (user["name"],) * 2


async def test_a_second_guest_payment_with_the_email_in_another_case_is_the_same_user(
    api, browser, live_settings
):
    email = tagged_email("Gus.Upper")
    first = await guest_payment(api, browser, live_settings, email)
    second = await guest_payment(api, browser, live_settings, email.upper())

    [user] = await users_with(email)
    assert first["user"]["id"] == second["user"]["id"] == user["id"]
    assert second["user"]["email"] == user["email"] == email  # the account's own email


async def test_a_declined_guest_payment_is_that_users_too(api, browser, live_settings):
    email = tagged_email()
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"])
    r = await pay(browser, config["purchase_url"], email=email, card="4000 0000 0000 0002")
    assert r.status_code == 402
    [failed] = (await api.get("/payments", params={"company_id": company["id"]})).json()["data"]
    [user] = await users_with(email)
    assert failed["user"]["id"] == user["id"]


async def test_concurrent_first_payments_with_one_email_make_one_user(api, browser, live_settings):
    email = tagged_email("crowd")
    company = await connected_company(api, live_settings)
    configs = [await checkout(api, company["id"]) for _ in range(10)]
    answers = await asyncio.gather(*(pay(browser, c["purchase_url"], email=email) for c in configs))
    assert [r.status_code for r in answers] == [303] * 10

    [user] = await users_with(email)
    listed = await api.get("/payments", params={"company_id": company["id"], "first": 20})
    payments = listed.json()["data"]
    assert len(payments) == 10
    assert {p["user"]["id"] for p in payments} == {user["id"]}


async def test_racing_transactions_for_one_new_email_agree_on_one_user():
    """Each transaction stays open after making the user, so they overlap for certain."""
    email = tagged_email("race")

    async def first_payment(n: int) -> str:
        spelled = email.upper() if n % 2 else f" {email} "
        async with store.transaction() as conn:
            user = await identity.user_for_email(conn, spelled)
            await asyncio.sleep(0.2)  # the payment's own work, while the others wait
            return user["id"]

    ids = await asyncio.gather(*(first_payment(n) for n in range(10)))
    [user] = await users_with(email)
    assert set(ids) == {user["id"]}


async def test_a_guest_whose_username_is_taken_gets_another(api, browser, live_settings):
    tag = secrets.token_hex(5)
    holder = await identity.create_user("Holder", f"pat.{tag}", f"holder.{tag}@example.com")
    payment = await guest_payment(api, browser, live_settings, f"Pat.{tag}@example.org")

    [guest] = await users_with(f"pat.{tag}@example.org")
    assert payment["user"]["id"] == guest["id"] != holder["id"]
    assert guest["name"] == f"Pat.{tag}"
    assert guest["username"].startswith(f"pat.{tag}_") and guest["username"] != f"pat.{tag}"


async def test_a_guest_username_keeps_only_what_a_username_may_hold(api, browser, live_settings):
    tag = secrets.token_hex(4)
    email = f"Ann+Shop-{tag}@example.com"
    await guest_payment(api, browser, live_settings, email)
    [user] = await users_with(email)
    assert user["username"] == f"ann_shop_{tag}"


async def test_an_email_no_whop_user_could_have_is_refused_and_makes_nothing(
    api, browser, live_settings
):
    company = await connected_company(api, live_settings)
    config = await checkout(api, company["id"])
    for email, message in (
        ("a" * 250 + "@example.com", "An email address can have at most 254 characters."),
        ("nul\x00byte@example.com", "Enter the email address for your receipt."),
    ):
        r = await pay(browser, config["purchase_url"], email=email)
        assert r.status_code == 422, r.text
        assert message in r.text
    listed = (await api.get("/payments", params={"company_id": company["id"]})).json()
    assert listed["data"] == []
    assert await users_with("a" * 250 + "@example.com") == []


# --- the consent page ----------------------------------------------------------------------


async def test_signing_up_at_the_consent_page_with_a_guests_email_signs_in_as_that_user(
    api, browser, live_settings, client, settings
):
    email = tagged_email("Buyer")
    payment = await guest_payment(api, browser, live_settings, email)
    before = await WhopUser.count()

    person = {**new_test_user(), "email": email.lower()}
    user_id = await consent_user(client, settings, **person)

    assert user_id == payment["user"]["id"]
    assert await WhopUser.count() == before


async def test_creating_a_user_with_a_known_email_in_another_case_signs_in_as_that_user(
    client, settings
):
    first = new_test_user()
    first_id = await consent_user(client, settings, **first)
    before = await WhopUser.count()

    again = {**new_test_user(), "email": "  " + first["email"].upper()}
    assert await consent_user(client, settings, **again) == first_id
    assert await WhopUser.count() == before
    [user] = await users_with(first["email"])
    assert (user["name"], user["username"]) == (first["name"], first["username"])  # unchanged


async def test_a_user_made_at_the_consent_page_pays_as_themself_as_a_guest(
    api, browser, live_settings, client, settings
):
    person = new_test_user()
    user_id = await consent_user(client, settings, **person)
    payment = await guest_payment(api, browser, live_settings, person["email"].upper())
    assert payment["user"]["id"] == user_id
    assert payment["user"]["email"] == person["email"]


async def test_a_taken_username_with_a_new_email_is_still_refused(client, settings):
    first = new_test_user()
    await consent_user(client, settings, **first)
    page = await open_authorize_page(client, authorize_url(settings))
    r = await page.approve_new_user(username=first["username"], email=tagged_email())
    assert r.status_code == 422
    assert "Another test user already has this username." in r.text


async def test_control_characters_in_a_new_users_email_or_name_are_refused(client, settings):
    before = await WhopUser.count()
    page = await open_authorize_page(client, authorize_url(settings))
    r = await page.approve_new_user(email="nul\x00byte@example.com", name="Nul\x00Byte")
    assert r.status_code == 422, r.text
    assert "Enter an email address like sam@example.com." in r.text
    assert "A name cannot hold control characters." in r.text
    assert await WhopUser.count() == before
