"""`linkmint emulator`: the Whop emulator on its own, as a client that is not Linkmint meets it.

A real `linkmint emulator` process on 127.0.0.1, sharing the test database, is driven with
Whop's own Python SDK (whop-sdk 0.0.40) with strict response validation: every answer must
validate against the SDK's models, so a client written against them parses the emulator.
Fields beyond a model are checked too: a retrieved object carries none that Whop's models do
not define, and a list item none that the full object's model does not.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import standardwebhooks
from pydantic import BaseModel
from whop_sdk import APIStatusError, AsyncWhop
from whop_sdk.types import (
    AccessTokenCreateResponse,
    AccountLinkCreateResponse,
    CompanyListResponse,
    LedgerAccountRetrieveResponse,
    PaymentListResponse,
    PayoutMethodListResponse,
    RefundListResponse,
    RefundRetrieveResponse,
    Webhook,
    Withdrawal,
    WithdrawalListResponse,
)
from whop_sdk.types.payment_succeeded_webhook_event import PaymentSucceededWebhookEvent
from whop_sdk.types.shared import CheckoutConfiguration, Company, Payment

from tests.support.servers import LOGS, ROOT, free_port
from tests.support.whop_testkit import Receiver, complete_kyc, eventually, pay, query_of

PARENT = os.environ["WHOP_PARENT_COMPANY_ID"]
BACK = "http://127.0.0.1:9/back"  # loopback http is accepted; nothing follows it here


# --- the process --------------------------------------------------------------------------


@dataclass
class Emulator:
    url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def banner(self) -> dict[str, str]:
        """The banner's `name  value` lines, by name."""
        lines = self.log_path.read_text().splitlines()
        return {m[1]: m[2] for line in lines if (m := re.match(r"  (\S.*?)\s{2,}(\S+)", line))}

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def start_emulator() -> Emulator:
    """`linkmint emulator` on a free port, with the test environment's credentials."""
    port = free_port()
    log_path = LOGS / f"emulator-{port}.log"
    env = {**os.environ, "DB_POOL_SIZE": "2", "LOG_LEVEL": "WARNING"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "emulator", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Emulator(f"http://127.0.0.1:{port}", process, log_path)


def wait_ready(emulator: Emulator) -> None:
    """Until its discovery document answers (the banner is printed just before)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            r = httpx.get(f"{emulator.url}/_whop/.well-known/openid-configuration", timeout=1)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if emulator.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"linkmint emulator did not start:\n{emulator.log_path.read_text()}"
            )
        time.sleep(0.1)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    running = start_emulator()
    try:
        wait_ready(running)
        yield running
    finally:
        running.stop()


@pytest.fixture
async def whop(emulator: Emulator) -> AsyncIterator[AsyncWhop]:
    """Whop's SDK with the key the banner printed, failing on any answer its models refuse."""
    client = AsyncWhop(
        api_key=emulator.banner["API key"],
        base_url=emulator.banner["API base"],
        max_retries=0,
        _strict_response_validation=True,
    )
    async with client:
        yield client


@pytest.fixture
async def browser(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """A person on the emulator's hosted pages (redirects are inspected, not followed)."""
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        yield client


# --- what a model does not define ----------------------------------------------------------


def undefined_fields(model: BaseModel, path: str = "") -> list[str]:
    """Dotted names of the fields in `model` (and the models in it) its class lacks."""
    found = [f"{path}{name}" for name in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                found += undefined_fields(item, f"{path}{name}.")
    return found


def as_full(item: BaseModel, full: type[BaseModel]) -> BaseModel:
    """A list item (or an embedded summary) read with the full object's model: Whop's lists
    carry less than a retrieve does, the emulator's the whole object, which must then be
    what the full model defines."""
    return full.model_validate(item.model_dump(mode="json"))


# --- the people ---------------------------------------------------------------------------

_COUNTER = iter(range(1, 1_000_000))


async def new_company(whop: AsyncWhop) -> Company:
    n = next(_COUNTER)
    return await whop.companies.create(
        title=f"Standalone Creator {n}",
        parent_company_id=PARENT,
        email=f"Standalone.Creator{n}@example.com",
        metadata={"creator": str(n)},
    )


async def onboarded(whop: AsyncWhop, browser: httpx.AsyncClient, company: Company) -> None:
    link = await whop.account_links.create(
        company_id=company.id,
        use_case="account_onboarding",
        return_url=f"{BACK}?kyc=done",
        refresh_url=f"{BACK}?kyc=again",
    )
    assert isinstance(link, AccountLinkCreateResponse)
    done = await complete_kyc(browser, link.url)
    assert done.status_code == 303 and done.headers["location"] == f"{BACK}?kyc=done"


async def checkout(
    whop: AsyncWhop, company: Company, price: float = 10.0, fee: float | None = 1.23
) -> CheckoutConfiguration:
    plan = {"company_id": company.id, "currency": "usd", "plan_type": "one_time",
            "initial_price": price}  # fmt: skip
    if fee is not None:
        plan["application_fee_amount"] = fee
    return await whop.checkout_configurations.create(
        plan=plan, metadata={"unlock_id": "u1"}, redirect_url=BACK
    )


async def paid(browser: httpx.AsyncClient, config: CheckoutConfiguration, **fields: str) -> str:
    """Pay on the hosted checkout; the payment id the redirect carries."""
    answer = await pay(browser, config.purchase_url, **fields)
    assert answer.status_code == 303, answer.text
    back = query_of(answer.headers["location"])
    assert back["checkout_status"] == "success"
    return back["payment_id"]


# --- the banner and the SDK ----------------------------------------------------------------


def test_the_banner_names_the_bases_and_the_credentials(emulator):
    banner = emulator.banner
    assert banner["API base"] == f"{emulator.url}/_whop/api/v1"
    assert banner["OAuth base"] == f"{emulator.url}/_whop/oauth"
    assert banner["control API"] == f"{emulator.url}/_whop/_control"
    assert banner["API key"] == os.environ["WHOP_API_KEY"]
    assert banner["parent company"] == PARENT
    assert "4242 4242 4242 4242" in emulator.log_path.read_text()


async def test_companies_parse_with_whops_sdk(whop):
    created = await new_company(whop)
    assert isinstance(created, Company) and undefined_fields(created) == []
    assert created.metadata == {"creator": created.metadata["creator"]}
    owner = created.owner_user
    assert owner.id.startswith("user_") and owner.username.startswith("standalone.creator")

    again = await whop.companies.retrieve(created.id)
    assert again.owner_user == owner  # the same person on every read
    parent = await whop.companies.retrieve(PARENT)
    assert parent.verified and parent.owner_user.id.startswith("user_")
    assert undefined_fields(parent) == []

    listed = [c async for c in whop.companies.list(parent_company_id=PARENT)]
    assert created.id in [c.id for c in listed]
    for item in listed:
        assert isinstance(item, CompanyListResponse)
        assert undefined_fields(as_full(item, Company)) == []


async def test_onboarding_tokens_and_withdrawals_parse_with_whops_sdk(whop, browser):
    company = await new_company(whop)
    assert [m async for m in whop.payout_methods.list(company_id=company.id)] == []
    await onboarded(whop, browser, company)
    assert (await whop.companies.retrieve(company.id)).verified

    methods = [m async for m in whop.payout_methods.list(company_id=company.id)]
    assert len(methods) == 1 and isinstance(methods[0], PayoutMethodListResponse)
    assert methods[0].is_default and methods[0].destination.category == "next_day_bank"
    assert undefined_fields(methods[0]) == []

    token = await whop.access_tokens.create(company_id=company.id)
    assert isinstance(token, AccessTokenCreateResponse) and token.token

    await paid(browser, await checkout(whop, company))
    withdrawal = await whop.withdrawals.create(amount=5.0, company_id=company.id, currency="usd")
    assert isinstance(withdrawal, Withdrawal) and withdrawal.status == "completed"
    assert withdrawal.ledger_account.company_id == company.id
    # The one field beyond Whop's model: the method it went to, for the elements stand-in.
    assert undefined_fields(withdrawal) == ["payout_method"]
    listed = [w async for w in whop.withdrawals.list(company_id=company.id)]
    assert [w.id for w in listed] == [withdrawal.id]
    assert isinstance(listed[0], WithdrawalListResponse)
    assert undefined_fields(as_full(listed[0], Withdrawal)) == ["payout_method"]
    account = await whop.ledger_accounts.retrieve(company.id)
    assert isinstance(account, LedgerAccountRetrieveResponse) and undefined_fields(account) == []
    assert account.ledger_type == "primary" and account.owner.id == company.id
    assert [b.currency for b in account.balances] == ["usd"]


async def test_checkouts_payments_and_refunds_parse_with_whops_sdk(whop, browser):
    company = await new_company(whop)
    config = await checkout(whop, company)
    assert isinstance(config, CheckoutConfiguration) and config.company_id == company.id
    assert config.purchase_url.startswith(f"{whop.base_url.scheme}://{whop.base_url.host}")
    assert undefined_fields(config) == ["created_at"]  # the newer API's; kept
    assert await whop.checkout_configurations.retrieve(config.id) == config
    by_id = await whop.checkout_configurations.create(plan_id=config.plan.id, redirect_url=BACK)
    assert by_id.plan == config.plan and by_id.id != config.id

    payment_id = await paid(browser, config)
    payment = await whop.payments.retrieve(payment_id)
    assert isinstance(payment, Payment) and undefined_fields(payment) == []
    assert (payment.status, payment.substatus, payment.total) == ("paid", "succeeded", 10.0)
    assert payment.checkout_configuration_id == config.id and payment.plan.id == config.plan.id
    assert payment.metadata == {"unlock_id": "u1"} and payment.application_fee.amount == 1.23
    assert payment.user.email == "buyer@example.com" and payment.user.username == "buyer"
    assert payment.financing_transactions == [] and payment.refundable

    declined = await pay(browser, config.purchase_url, card="4000 0000 0000 0002")
    assert declined.status_code == 402
    listed = [p async for p in whop.payments.list(company_id=company.id)]
    assert [(p.status, p.substatus) for p in listed] == [("open", "failed"), ("paid", "succeeded")]
    for item in listed:
        assert isinstance(item, PaymentListResponse)
        assert undefined_fields(as_full(item, Payment)) == []
    only_paid = [p.id async for p in whop.payments.list(company_id=company.id, statuses=["paid"])]
    assert only_paid == [payment_id]

    refunded = await whop.payments.refund(payment_id, partial_amount=4.0)
    assert isinstance(refunded, Payment) and undefined_fields(refunded) == []
    assert (refunded.substatus, refunded.refunded_amount) == ("partially_refunded", 4.0)
    refunds = [r async for r in whop.refunds.list(payment_id=payment_id)]
    assert len(refunds) == 1 and isinstance(refunds[0], RefundListResponse)
    refund = await whop.refunds.retrieve(refunds[0].id)
    assert isinstance(refund, RefundRetrieveResponse)
    assert (refund.amount, refund.status, refund.payment.id) == (4.0, "succeeded", payment_id)
    for shown in (refunds[0], refund):  # each embeds the whole payment
        assert not [f for f in undefined_fields(shown) if not f.startswith("payment.")]
        assert undefined_fields(as_full(shown.payment, Payment)) == []


async def test_tax_adds_up_as_whops_payment_model_says(whop, browser, emulator):
    control = httpx.AsyncClient(
        base_url=emulator.banner["control API"],
        headers={"Authorization": f"Bearer {emulator.banner['API key']}"},
    )
    async with control:
        set_rates = await control.put("/settings", json={"tax_rates": {"DE": 19}})
        assert set_rates.status_code == 200, set_rates.text
        try:
            company = await new_company(whop)
            config = await checkout(whop, company, price=10.0, fee=1.23)
            taxed = await whop.payments.retrieve(await paid(browser, config, country="DE"))
            untaxed = await whop.payments.retrieve(await paid(browser, config, country="US"))
        finally:
            await control.delete("/settings")

    # Whop is the merchant of record: the price is the subtotal, tax comes on top, and the
    # buyer is charged (settlement_amount) the total; the fee comes out of the subtotal.
    assert (taxed.subtotal, taxed.tax_amount, taxed.total) == (10.0, 1.9, 11.9)
    assert taxed.settlement_amount == taxed.usd_total == 11.9
    assert taxed.tax_behavior == "exclusive" and taxed.amount_after_fees == 8.77
    assert (untaxed.subtotal, untaxed.tax_amount, untaxed.total) == (10.0, 0.0, 10.0)
    assert untaxed.settlement_amount == 10.0 and untaxed.tax_behavior is None

    refunded = await whop.payments.refund(taxed.id)
    assert (refunded.refunded_amount, refunded.tax_refunded_amount) == (11.9, 1.9)
    assert refunded.substatus == "refunded" and not refunded.refundable


async def test_what_it_does_not_serve_is_refused_in_whops_body_without_a_trace(emulator, whop):
    with pytest.raises(APIStatusError) as unlisted:
        await whop.checkout_configurations.list(company_id=PARENT)
    assert unlisted.value.status_code == 405
    assert unlisted.value.body["error"] == {
        "type": "method_not_allowed",
        "code": None,
        "message": "No such endpoint: GET /api/v1/checkout_configurations",
        "param": None,
    }
    auth = {"Authorization": f"Bearer {emulator.banner['API key']}"}
    async with httpx.AsyncClient(base_url=f"{emulator.url}/_whop", headers=auth) as http:
        void = await http.post("/api/v1/payments/pay_Nothing000000/void")
        control = await http.get("/_control/nothing")
        page = await http.get("/checkout/plan_Nothing00000", params={"session": "ch_x"})
    assert void.status_code == 404
    assert (
        void.json()["error"]["message"]
        == "No such endpoint: POST /api/v1/payments/pay_Nothing000000/void"
    )
    assert control.status_code == 404 and control.json()["error"]["type"] == "not_found"
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/plain")
    assert page.text == "This checkout link does not exist."
    assert "Traceback" not in emulator.log_path.read_text()


# --- webhooks -------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    await rx.start()
    yield rx
    await rx.stop()


async def test_a_webhook_made_with_the_sdk_gets_events_that_verify_with_its_secret(
    whop, browser, receiver
):
    company = await new_company(whop)
    hook = await whop.webhooks.create(
        url=receiver.url, resource_id=company.id, events=["payment.succeeded"]
    )
    assert hook.webhook_secret.startswith("ws_") and hook.resource_id == company.id
    listed = [h async for h in whop.webhooks.list(company_id=company.id)]
    assert [h.id for h in listed] == [hook.id]
    # Beyond the full model: the secret, null after its creation as at Whop, and the newer
    # API's count of failures.
    beyond = set(undefined_fields(listed[0])) - set(Webhook.model_fields)
    assert beyond == {"webhook_secret", "consecutive_failures"}
    assert listed[0].model_extra["webhook_secret"] is None

    payment_id = await paid(browser, await checkout(whop, company))
    await eventually(lambda: receiver.requests, within=15)
    sent = receiver.requests[0]

    # Whop HMACs with the secret's own bytes; standardwebhooks takes its key in base64.
    key = base64.b64encode(hook.webhook_secret.encode()).decode()
    assert (
        standardwebhooks.Webhook(key).verify(sent.body, sent.headers)["id"]
        == sent.headers["webhook-id"]
    )
    event = whop.webhooks.unwrap(sent.body.decode(), headers=sent.headers, key=key)
    assert event.type == "payment.succeeded" and event.data.id == payment_id
    strict = PaymentSucceededWebhookEvent.model_validate(json.loads(sent.body))
    assert strict.company_id == company.id and undefined_fields(strict) == []
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(key).verify(sent.body.replace(b"paid", b"void"), sent.headers)

    assert await whop.webhooks.delete(hook.id) is True  # Whop answers a bare `true`
    assert [h async for h in whop.webhooks.list(company_id=company.id)] == []


# --- on loopback only, and stopped cleanly ------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_host_other_machines_reach_is_refused(host):
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "emulator", "--host", host, "--port", str(port)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--host {host} is not a loopback address" in done.stderr
    assert "127.0.0.1, ::1 or localhost only" in done.stderr
    assert "Whop emulator on" not in done.stdout and not listening(port)


def test_sigterm_stops_it_cleanly():
    running = start_emulator()
    port = int(running.url.rpartition(":")[2])
    try:
        wait_ready(running)
        assert listening(port)
    finally:
        status = running.stop()
    log = running.log_path.read_text()
    assert status == 128 + signal.SIGTERM, log
    assert "Traceback" not in log and "ERROR" not in log
    assert not listening(port)


def test_its_style_sheets_are_served_for_a_year_and_others_are_not(emulator):
    for name in ("emulator.css", "emulator-hosted.css"):
        r = httpx.get(f"{emulator.url}/static/css/{name}", timeout=5)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
        assert r.headers["cache-control"] == "max-age=31536000, public"
    assert httpx.get(f"{emulator.url}/static/css/app.css", timeout=5).status_code == 404
