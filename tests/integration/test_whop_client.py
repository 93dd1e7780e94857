"""The app's Whop client against the emulator over real HTTP: every method, retries, 429s,
idempotent creates and error mapping (and, with a mock transport, what is sent on the wire).
"""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar, get
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from app.emulator import faults, store
from app.whop import (
    AccessToken,
    CheckoutConfiguration,
    Payment,
    RetryPolicy,
    WhopBadResponse,
    WhopClient,
    WhopDep,
    WhopError,
    WhopNotFound,
    WhopRateLimited,
    WhopRejected,
    WhopUnauthorized,
    WhopUnavailable,
    provide_whop,
    whop_lifespan,
)
from app.whop.client import REQUEST_MAX_WAIT
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    browser,
    complete_kyc,
    emulator_control,
    eventually,
    live_settings,
    pay,
    query_of,
    receiver,
    recorded_calls,
    sleeps,
    whop,
)

RETURN = "https://linkmint.example/dashboard/payouts/return"
REFRESH = "https://linkmint.example/dashboard/payouts/refresh"
CONFIRM = "https://linkmint.example/checkout/confirm"

pytestmark = pytest.mark.usefixtures("emulator_control")


async def new_company(whop: WhopClient, n: list[int] = [0]):  # noqa: B006 (a counter)
    n[0] += 1
    return await whop.create_connected_company(
        title=f"Client creator {n[0]}",
        email=f"client{n[0]}@example.com",
        metadata={"creator_id": str(n[0])},
    )


async def new_checkout(whop: WhopClient, company_id: str, **kwargs) -> CheckoutConfiguration:
    args = {
        "company_id": company_id,
        "price": 1099,
        "currency": "usd",
        "application_fee": 110,
        "metadata": {"unlock_id": "unl_client"},
        "redirect_url": f"{CONFIRM}?u=1",
        "title": "Premium link",
        **kwargs,
    }
    return await whop.create_checkout_configuration(**args)


async def bought(whop, browser, company_id: str, **kwargs) -> Payment:
    config = await new_checkout(whop, company_id, **kwargs)
    r = await pay(browser, config.purchase_url)
    return await whop.retrieve_payment(query_of(r.headers["location"])["payment_id"])


# --- every method ----------------------------------------------------------------------------


async def test_a_connected_company_is_created_and_read_back(whop):
    company = await new_company(whop)
    assert company.id.startswith("biz_")
    assert company.title.startswith("Client creator")
    assert company.metadata["creator_id"]
    again = await whop.retrieve_company(company.id)
    assert again == company


async def test_onboarding_makes_the_company_payout_ready(whop, browser):
    company = await new_company(whop)
    assert await whop.list_payout_methods(company.id) == []
    assert await whop.payout_ready(company.id) is False
    link = await whop.create_account_link(company.id, return_url=RETURN, refresh_url=REFRESH)
    assert link.expires_at > datetime.now(UTC)
    r = await complete_kyc(browser, link.url, country="US")
    assert r.headers["location"] == RETURN
    [method] = await whop.list_payout_methods(company.id)
    assert method.id.startswith("potk_") and method.company_id == company.id
    assert method.is_default and method.destination.country_code == "US"
    assert method.can_receive_payouts
    assert await whop.payout_ready(company.id) is True


async def test_a_checkout_sells_a_one_time_plan_in_minor_units(whop, browser, live_server):
    company = await new_company(whop)
    config = await new_checkout(whop, company.id, price=1099, application_fee=110)
    assert config.id.startswith("ch_") and config.plan_id.startswith("plan_")
    assert config.company_id == company.id
    assert config.price == 1099 and config.currency == "usd"
    assert config.metadata == {"unlock_id": "unl_client"}
    assert (
        config.purchase_url == f"{live_server}/_whop/checkout/{config.plan_id}?session={config.id}"
    )

    r = await pay(browser, config.purchase_url)
    query = query_of(r.headers["location"])
    assert query["checkout_status"] == "success" and query["u"] == "1"
    payment = await whop.retrieve_payment(query["payment_id"])
    assert payment.is_paid and payment.status == "paid" and payment.substatus == "succeeded"
    assert payment.total == 1099 and payment.subtotal == 1099
    assert payment.application_fee == 110 and payment.amount_after_fees == 989
    assert payment.refunded_amount == 0 and payment.refundable
    assert payment.company_id == company.id and payment.currency == "usd"
    assert payment.metadata == {"unlock_id": "unl_client"}
    assert payment.checkout_configuration_id == config.id and payment.plan_id == config.plan_id
    assert payment.user_email == "buyer@example.com" and payment.user_id.startswith("user_")
    assert payment.paid_at and payment.created_at <= payment.paid_at


async def test_a_checkout_without_a_fee_or_redirect_is_allowed(whop):
    company = await new_company(whop)
    config = await new_checkout(whop, company.id, application_fee=0, redirect_url=None)
    assert config.redirect_url is None and config.price == 1099


async def test_zero_decimal_currencies_round_trip_exactly(whop, browser):
    company = await new_company(whop)
    payment = await bought(
        whop, browser, company.id, price=1500, application_fee=150, currency="JPY"
    )
    assert payment.currency == "jpy" and payment.total == 1500 and payment.application_fee == 150


async def test_payments_are_listed_across_pages_with_filters(whop, browser):
    company = await new_company(whop)
    configs = [await new_checkout(whop, company.id) for _ in range(3)]
    paid = []
    for config in configs:
        r = await pay(browser, config.purchase_url)
        paid.append(query_of(r.headers["location"])["payment_id"])
    await pay(browser, configs[2].purchase_url, card="4000 0000 0000 0002")

    everything = [p async for p in whop.list_payments(company.id, page_size=1)]
    assert len(everything) == 4
    assert [p.id for p in everything if p.is_paid] == paid[::-1]
    only_paid = [p.id async for p in whop.list_payments(company.id, statuses=["paid"], page_size=2)]
    assert only_paid == paid[::-1]
    by_checkout = [
        p.status
        async for p in whop.list_payments(company.id, checkout_configuration_ids=[configs[2].id])
    ]
    assert sorted(by_checkout) == ["open", "paid"]
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert [p async for p in whop.list_payments(company.id, created_after=later)] == []
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    assert [p async for p in whop.list_payments(company.id, created_before=earlier)] == []


async def test_a_payment_is_refunded_in_part_then_in_full(whop, browser):
    company = await new_company(whop)
    payment = await bought(whop, browser, company.id)
    partly = await whop.refund_payment(payment.id, amount=299, currency="usd")
    assert partly.refunded_amount == 299 and partly.substatus == "partially_refunded"
    assert partly.is_paid
    full = await whop.refund_payment(payment.id)
    assert full.refunded_amount == 1099 and full.substatus == "refunded"
    assert not full.refundable and full.refunded_at
    with pytest.raises(WhopRejected) as refused:
        await whop.refund_payment(payment.id)
    assert refused.value.status == 422 and refused.value.code == "payment_not_refundable"


async def test_a_partial_refund_needs_the_currency_and_positive_minor_units(whop):
    with pytest.raises(ValueError, match="currency"):
        await whop.refund_payment("pay_x", amount=100)
    with pytest.raises(ValueError, match="positive"):
        await whop.refund_payment("pay_x", amount=0, currency="usd")


async def test_an_access_token_is_minted_for_the_company(whop, live_settings):
    company = await new_company(whop)
    token = await whop.create_access_token(company.id)
    assert isinstance(token, AccessToken) and token.token
    assert timedelta(minutes=59) < token.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert token.token not in repr(token)
    short = await whop.create_access_token(
        company.id, expires_at=datetime.now(UTC) + timedelta(minutes=10)
    )
    assert short.expires_at - datetime.now(UTC) <= timedelta(minutes=10)
    async with httpx.AsyncClient(
        base_url=live_settings.api_base, headers={"Authorization": f"Bearer {token.token}"}
    ) as element:
        assert (await element.get(f"/ledger_accounts/{company.id}")).status_code == 200


async def test_a_webhook_is_created_with_its_signing_secret(whop, receiver, api):
    company = await new_company(whop)
    hook = await whop.create_webhook(
        receiver.url, events=["payment.succeeded", "refund.created"], resource_id=company.id
    )
    assert hook.id.startswith("hook_") and hook.secret.startswith("ws_")
    assert hook.secret not in repr(hook)
    assert hook.events == ("payment.succeeded", "refund.created")
    assert hook.resource_id == company.id and hook.enabled


# --- idempotent creates ----------------------------------------------------------------------


async def test_a_create_whose_answer_was_lost_is_retried_without_a_duplicate(whop, sleeps, api):
    await faults.add_fault(
        "api", method="POST", path="/checkout_configurations", status=502, when="after"
    )
    company = await new_company(whop)
    config = await new_checkout(whop, company.id)
    assert len(sleeps) == 1  # one retry, which replayed the first answer
    async with store.connection() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM whop_emulator.checkout_configuration WHERE company_id = $1",
            company.id,
        )
    assert count == 1 and config.id.startswith("ch_")


async def test_the_callers_idempotency_key_makes_a_create_happen_once(whop):
    key = f"unlock-{datetime.now(UTC).timestamp()}"
    company = await new_company(whop)
    first = await new_checkout(whop, company.id, idempotency_key=key)
    second = await new_checkout(whop, company.id, idempotency_key=key)
    assert first == second
    with pytest.raises(WhopRejected) as reused:
        await new_checkout(whop, company.id, price=2000, idempotency_key=key)
    assert reused.value.code == "idempotency_key_reused"


async def test_a_refund_whose_answer_was_lost_refunds_once(whop, browser, sleeps):
    company = await new_company(whop)
    payment = await bought(whop, browser, company.id)
    await faults.add_fault(
        "api", method="POST", path="/payments/*/refund", status=500, when="after"
    )
    refunded = await whop.refund_payment(payment.id, amount=100, currency="usd")
    assert refunded.refunded_amount == 100
    assert len(sleeps) == 1


# --- retries and rate limits -----------------------------------------------------------------


async def test_server_errors_are_retried_until_one_succeeds(whop, sleeps):
    await faults.add_fault("api", path="/companies", method="POST", status=500, times=2)
    company = await new_company(whop)
    assert company.id.startswith("biz_")
    assert len(sleeps) == 2 and sleeps[0] <= sleeps[1]


async def test_persistent_server_errors_end_in_whop_unavailable(whop, sleeps, live_settings):
    await faults.add_fault("api", path="/companies/*", status=503, times=3)
    with pytest.raises(WhopUnavailable) as failed:
        await whop.retrieve_company(live_settings.whop_parent_company_id)
    assert not isinstance(failed.value, WhopRateLimited)
    message = str(failed.value)
    assert "retrieve company" in message and "503" in message and "injected_fault" in message
    assert live_settings.whop_api_key not in message
    assert len(sleeps) == 2


async def test_a_429_waits_as_long_as_the_message_says(whop, sleeps, live_settings):
    await faults.add_fault("api", path="/companies/*", status=429, retry_after=12)
    company = await whop.retrieve_company(live_settings.whop_parent_company_id)
    assert company.id == live_settings.whop_parent_company_id
    assert sleeps == [12.0]


async def test_a_429_honours_the_retry_after_header(whop, sleeps, live_settings):
    await faults.add_fault(
        "api", path="/companies/*", status=429, retry_after=3, retry_after_header=True
    )
    await whop.retrieve_company(live_settings.whop_parent_company_id)
    assert sleeps == [3.0]


async def test_a_429_without_a_wait_backs_off_and_then_gives_up(whop, sleeps, live_settings):
    await faults.add_fault("api", path="/companies/*", status=429, times=3)
    with pytest.raises(WhopRateLimited) as limited:
        await whop.retrieve_company(live_settings.whop_parent_company_id)
    assert limited.value.retry_after is None and len(sleeps) == 2
    assert isinstance(limited.value, WhopUnavailable)


async def test_a_wait_longer_than_we_block_for_is_handed_to_the_caller(whop, sleeps, live_settings):
    await faults.add_fault("api", path="/companies/*", status=429, retry_after=120)
    with pytest.raises(WhopRateLimited) as limited:
        await whop.retrieve_company(live_settings.whop_parent_company_id)
    assert limited.value.retry_after == 120 and sleeps == []
    assert "Try again in 120 seconds" in str(limited.value)


async def test_a_429s_wait_holds_for_the_operations_next_calls(whop, sleeps, live_settings):
    await faults.add_fault("api", path="/companies/*", status=429, retry_after=20)
    parent = live_settings.whop_parent_company_id
    await whop.retrieve_company(parent)
    assert sleeps == [20.0]
    paths = recorded_calls(whop)
    # (The test's sleeps pass no time, so Whop's 20 seconds are not over yet.)
    await whop.retrieve_company(parent)
    assert len(sleeps) == 2 and 15 < sleeps[1] <= 20  # sat out what was left, then asked
    assert len(paths) == 1
    company = await whop.create_connected_company(title="Other", email="o@example.com")
    assert company.id.startswith("biz_") and len(sleeps) == 2  # another operation, no wait


async def test_a_call_that_may_not_wait_so_long_is_refused_without_asking_whop(
    whop, sleeps, live_settings
):
    await faults.add_fault("api", path="/companies/*", status=429, retry_after=20)
    parent = live_settings.whop_parent_company_id
    await whop.retrieve_company(parent)
    hurried = whop.with_max_wait(2)
    paths = recorded_calls(hurried)
    with pytest.raises(WhopRateLimited) as limited:
        await hurried.retrieve_company(parent)
    assert 15 < limited.value.retry_after <= 20 and paths == [] and sleeps == [20.0]
    assert re.search(r"not asked again for (1[6-9]|20) seconds", str(limited.value))
    assert hurried._http is whop._http  # a view: the same connections, the same waits


async def test_a_hanging_whop_times_out_and_is_retried(live_settings, sleeps):
    await faults.add_fault("api", path="/companies/*", hang=1.0)
    client = WhopClient.connect(
        live_settings, timeout=httpx.Timeout(0.3), retry=RetryPolicy(attempts=2), sleep=sleeps
    )
    async with client:
        company = await client.retrieve_company(live_settings.whop_parent_company_id)
    assert company.id == live_settings.whop_parent_company_id and len(sleeps) == 1


async def test_a_whop_that_never_answers_ends_in_whop_unavailable(live_settings, sleeps):
    await faults.add_fault("api", path="/companies/*", hang=1.0, times=2)
    client = WhopClient.connect(
        live_settings, timeout=httpx.Timeout(0.2), retry=RetryPolicy(attempts=2), sleep=sleeps
    )
    async with client:
        with pytest.raises(WhopUnavailable, match="did not answer in time"):
            await client.retrieve_company(live_settings.whop_parent_company_id)


async def test_an_unreachable_whop_ends_in_whop_unavailable(settings, sleeps):
    nowhere = dataclasses.replace(settings, app_url="http://127.0.0.1:9")
    async with WhopClient.connect(nowhere, sleep=sleeps) as client:
        with pytest.raises(WhopUnavailable, match="could not reach Whop"):
            await client.retrieve_payment("pay_x")
    assert len(sleeps) == 2


# --- error mapping -----------------------------------------------------------------------------


async def test_a_wrong_api_key_is_whop_unauthorized_and_the_key_stays_secret(live_settings, sleeps):
    wrong = dataclasses.replace(live_settings, whop_api_key="apik_not_the_right_one")
    async with WhopClient.connect(wrong, sleep=sleeps) as client:
        with pytest.raises(WhopUnauthorized) as denied:
            await client.retrieve_payment("pay_x")
    assert denied.value.status == 401 and denied.value.type == "unauthorized"
    assert "apik_not_the_right_one" not in str(denied.value) and sleeps == []


async def test_an_unknown_payment_is_whop_not_found(whop, sleeps):
    with pytest.raises(WhopNotFound) as missing:
        await whop.retrieve_payment("pay_DoesNotExist1")
    assert missing.value.status == 404
    assert "pay_DoesNotExist1" in missing.value.message
    assert "retrieve payment" in str(missing.value)
    assert sleeps == []  # a 4xx is not retried


async def test_a_refused_request_names_the_parameter(whop):
    company = await new_company(whop)
    with pytest.raises(WhopRejected) as bad:
        await whop.create_account_link(company.id, return_url="not a url", refresh_url=REFRESH)
    assert bad.value.status == 422 and bad.value.code == "parameter_invalid"
    assert bad.value.param == "return_url"
    assert isinstance(bad.value, WhopError)


async def test_another_platforms_company_is_whop_unauthorized(whop):
    async with store.transaction() as conn:
        await conn.execute(
            "INSERT INTO whop_emulator.company (id, title, payout_account_id)"
            " VALUES ('biz_OtherPlatform2', 'Other', 'poact_OtherPlatform2') ON CONFLICT DO NOTHING"
        )
    with pytest.raises(WhopUnauthorized) as forbidden:
        await whop.create_account_link("biz_OtherPlatform2", return_url=RETURN, refresh_url=REFRESH)
    assert forbidden.value.status == 403


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"price": 0}, "price must be a positive"),
        ({"price": 10.5}, "price must be a positive"),
        ({"application_fee": 1099}, "less than the price"),
        ({"application_fee": -1}, "at least 0"),
        ({"currency": "dollars"}, "ISO 4217"),
    ],
)
async def test_a_checkout_that_cannot_be_right_is_refused_before_calling_whop(
    whop, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        await new_checkout(whop, "biz_x", **kwargs)


# --- on the wire (mock transport) --------------------------------------------------------------


def mocked(settings, handler, **kwargs) -> WhopClient:
    async def no_sleep(_: float) -> None:
        return None

    return WhopClient.connect(
        settings, transport=httpx.MockTransport(handler), sleep=no_sleep, **kwargs
    )


async def test_every_request_carries_the_bearer_key_and_no_version_header(settings):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"error": {"type": "not_found", "message": "no"}})

    async with mocked(settings, handler) as client:
        with pytest.raises(WhopNotFound):
            await client.retrieve_payment("pay_x")
    [request] = seen
    assert request.headers["authorization"] == f"Bearer {settings.whop_api_key}"
    assert "api-version-date" not in request.headers
    assert str(request.url) == f"{settings.api_base}/payments/pay_x"


async def test_one_idempotency_key_is_kept_across_the_retries_of_a_create(settings):
    keys: list[str] = []
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["idempotency-key"])
        bodies.append(json.loads(request.content))
        if len(keys) < 3:
            return httpx.Response(
                500, json={"error": {"type": "internal_server_error", "message": "x"}}
            )
        return httpx.Response(200, json={"id": "biz_Abc", "title": "T", "metadata": {}})

    async with mocked(settings, handler) as client:
        await client.create_connected_company(title="T", email="t@example.com")
        await client.create_connected_company(title="T", email="t@example.com")
    assert len(keys) == 4 and len(set(keys[:3])) == 1 and keys[3] != keys[0]
    assert bodies[0]["parent_company_id"] == settings.whop_parent_company_id


async def test_money_is_sent_as_major_units(settings):
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(500)

    async with mocked(settings, handler, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(WhopUnavailable):
            await new_checkout(client, "biz_x", price=1099, application_fee=110)
        with pytest.raises(WhopUnavailable):
            await client.refund_payment("pay_x", amount=250, currency="usd")
    plan = sent[0]["plan"]
    assert plan["initial_price"] == 10.99 and plan["application_fee_amount"] == 1.1
    assert plan["plan_type"] == "one_time" and plan["company_id"] == "biz_x"
    assert sent[0]["metadata"] == {"unlock_id": "unl_client"}
    assert sent[1] == {"partial_amount": 2.5}


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"id": "pay_x"}),  # no status, currency, total
        httpx.Response(
            200,
            json={
                "id": "pay_x",
                "status": "paid",
                "currency": "usd",
                "total": "lots",
                "created_at": "2026-01-01T00:00:00Z",
            },
        ),
    ],
)
async def test_an_unreadable_answer_is_whop_bad_response(settings, response):
    async with mocked(settings, lambda request: response) as client:
        with pytest.raises(WhopBadResponse) as bad:
            await client.retrieve_payment("pay_x")
    assert "retrieve payment" in str(bad.value)


async def test_a_retry_after_date_is_understood(settings):
    waits: list[float] = []
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}),
            httpx.Response(503, headers={"retry-after-ms": "1500"}),
            httpx.Response(200, json={"id": "biz_A", "title": "A"}),
        ]
    )

    async def record(seconds: float) -> None:
        waits.append(seconds)

    client = WhopClient.connect(
        settings,
        transport=httpx.MockTransport(lambda r: next(answers)),
        retry=RetryPolicy(attempts=3, max_wait=10**10),
        sleep=record,
    )
    async with client:
        await client.retrieve_company("biz_A")
    assert waits[0] > 10**6 and waits[1] == 1.5


async def test_an_error_body_that_echoes_the_key_is_scrubbed(settings):
    def handler(request: httpx.Request) -> httpx.Response:
        echo = f"bad key {settings.whop_api_key}"
        return httpx.Response(400, json={"error": {"type": "bad_request", "message": echo}})

    async with mocked(settings, handler) as client:
        with pytest.raises(WhopRejected) as bad:
            await client.retrieve_payment("pay_x")
    assert settings.whop_api_key not in str(bad.value) and "[api key]" in str(bad.value)


# --- wiring: one client per app ------------------------------------------------------------


async def test_the_app_opens_one_client_for_its_lifetime_and_closes_it(settings):
    @get("/probe")
    async def probe(whop: WhopDep) -> dict[str, str]:
        return {"client": str(id(whop)), "connections": str(id(whop._http))}

    app = Litestar(
        route_handlers=[probe],
        dependencies={"whop": Provide(provide_whop, sync_to_thread=False)},
        lifespan=[whop_lifespan(settings)],
    )
    async with AsyncTestClient(app) as client:
        first = (await client.get("/probe")).json()
        second = (await client.get("/probe")).json()
        shared = app.state.whop
        assert first == second
        # Handlers get the view that waits at most REQUEST_MAX_WAIT, on the same connections.
        assert first["client"] == str(id(app.state.whop_for_requests))
        assert first["connections"] == str(id(shared._http))
        assert app.state.whop_for_requests._retry.max_wait == REQUEST_MAX_WAIT
        assert isinstance(shared, WhopClient)
    assert shared._http.is_closed


async def test_the_linkmint_app_exposes_the_client_on_its_state(app, client):
    assert isinstance(app.state.whop, WhopClient)


async def test_with_the_emulator_mounted_the_app_reaches_it_in_process(app, client, settings):
    from app.whop.client import InProcessTransport

    assert isinstance(app.state.whop._http._transport, InProcessTransport)
    # The same transport from here: APP_URL (testserver.local) is no server at all.
    async with WhopClient.connect(settings, transport=InProcessTransport(app)) as local:
        company = await local.create_connected_company(title="In-process", email="ip@example.com")
        config = await new_checkout(local, company.id)
        assert config.purchase_url.startswith(f"{settings.app_url}/_whop/checkout/plan_")
        with pytest.raises(WhopNotFound):
            await local.retrieve_payment("pay_Nowhere000000")


async def test_the_in_process_transport_keeps_the_read_timeout(app, client, settings):
    from app.whop.client import InProcessTransport

    await faults.add_fault("api", path="/companies/*", hang=1.0)
    local = WhopClient.connect(
        settings,
        transport=InProcessTransport(app),
        timeout=httpx.Timeout(0.2),
        retry=RetryPolicy(attempts=1),
    )
    async with local:
        with pytest.raises(WhopUnavailable, match="did not answer in time"):
            await local.retrieve_company(settings.whop_parent_company_id)
