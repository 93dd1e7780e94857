"""/webhooks/whop and its inbox: verified, stored, processed once, never lost (T2–T16)."""
# ruff: noqa: F811 (fixtures are imported, then named as test arguments)

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest

from app.db.tables import Creator, Unlock, WebhookEvent
from app.emulator import faults
from app.payments import inbox, metrics
from app.payments.inbox import MAX_ATTEMPTS, drain_inbox
from app.whop.webhooks import sign_webhook
from tests.support.unlock_support import (
    add_premium,
    connected_company,
    make_seller,
    pay,
    query_of,
    signed_event,
    start_checkout,
    unlock_row,
    whop_auth,
)
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    emulator_control,
    live_settings,
    sleeps,
    whop,
)

pytestmark = pytest.mark.usefixtures("emulator_control")


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or None) or 0.0


@pytest.fixture
async def quiet_whop(emulator_control):
    """The emulator's own deliveries to the app are lost, so only this test's arrive."""
    await faults.add_fault("drop", attempts=4, times=50)


@pytest.fixture
async def alice(client, settings, make_creator):
    return await make_seller(client, settings, make_creator, "alice")


@pytest.fixture
async def recipe(alice):
    return await add_premium(alice)


async def paid(client, link_id: int) -> tuple[str, str]:
    """A buyer pays for the link and never comes back: (unlock id, payment id)."""
    unlock_id, purchase_url = await start_checkout(client, link_id)
    r = await pay(client, purchase_url)
    assert r.status_code == 303
    return unlock_id, query_of(r.headers["location"])["payment_id"]


async def post(client, body: bytes, headers: dict[str, str]):
    """Deliver as Whop does; returns once the app's inbox workers processed what it stored
    (the delivery itself is answered as soon as the event is stored)."""
    r = await client.post("/webhooks/whop", content=body, headers=headers)
    await client.app.state.inbox.settled()
    return r


async def events(webhook_id: str) -> list[dict]:
    return await WebhookEvent.select().where(WebhookEvent.id == webhook_id)


# --- processing -----------------------------------------------------------------------------


@pytest.mark.usefixtures("quiet_whop")
async def test_payment_succeeded_completes_the_unlock_and_is_recorded(client, settings, recipe):
    unlock_id, payment_id = await paid(client, recipe["id"])
    assert (await unlock_row(unlock_id))["status"] == "PENDING"
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
    r = await post(client, body, headers)
    assert r.status_code == 200
    row = await unlock_row(unlock_id)
    assert row["status"] == "COMPLETED" and row["completed_via"] == "webhook"
    assert row["provider_payment_id"] == payment_id
    [event] = await events(headers["webhook-id"])
    assert event["type"] == "payment.succeeded" and event["processed_at"] is not None
    assert event["attempts"] == 1 and event["last_error"] is None
    payload = (
        event["payload"] if isinstance(event["payload"], dict) else json.loads(event["payload"])
    )
    assert payload["data"] == {"id": payment_id}


@pytest.mark.usefixtures("quiet_whop")
async def test_duplicate_deliveries_answer_2xx_and_take_effect_once(client, settings, recipe):
    unlock_id, payment_id = await paid(client, recipe["id"])
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
    duplicates_before = sample("linkmint_webhook_duplicate_deliveries_total")
    completed_before = sample(
        "linkmint_convergence_outcomes_total", path="webhook", result="completed"
    )

    sequential = [await post(client, body, headers) for _ in range(2)]
    concurrent = await asyncio.gather(*(post(client, body, headers) for _ in range(10)))
    assert {r.status_code for r in [*sequential, *concurrent]} == {200}
    assert len(await events(headers["webhook-id"])) == 1
    assert sample("linkmint_webhook_duplicate_deliveries_total") - duplicates_before == 11
    assert (
        sample("linkmint_convergence_outcomes_total", path="webhook", result="completed")
        - completed_before
        == 1
    )
    assert (await unlock_row(unlock_id))["status"] == "COMPLETED"


@pytest.mark.usefixtures("quiet_whop")
async def test_one_payment_under_two_event_ids_takes_effect_once(client, settings, recipe):
    unlock_id, payment_id = await paid(client, recipe["id"])
    first = signed_event(settings, "payment.succeeded", {"id": payment_id})
    second = signed_event(settings, "payment.succeeded", {"id": payment_id})
    assert (await post(client, *first)).text == "stored\n"
    assert (await post(client, *second)).status_code == 200
    assert len(await events(first[1]["webhook-id"])) == len(await events(second[1]["webhook-id"]))
    row = await unlock_row(unlock_id)
    assert row["status"] == "COMPLETED" and row["provider_payment_id"] == payment_id
    assert await Unlock.count().where(Unlock.status == "COMPLETED") == 1


@pytest.mark.usefixtures("quiet_whop")
async def test_a_batch_of_payments_completes_each_unlock_once(client, settings, alice, whop):
    links = [await add_premium(alice, f"Recipe {n}", position=n) for n in range(3)]
    sales = [await paid(client, link["id"]) for link in links]
    ids = []
    for _, payment_id in [*sales, sales[0]]:  # the first payment under a second event id too
        body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
        await WebhookEvent.raw(
            "INSERT INTO webhook_event (id, type, payload) VALUES ({}, 'payment.succeeded', {})",
            headers["webhook-id"],
            body.decode(),
        )
        ids.append(headers["webhook-id"])
    completed_before = sample(
        "linkmint_convergence_outcomes_total", path="webhook", result="completed"
    )

    results = await inbox.process_events(whop, ids, whop_reads=asyncio.Semaphore(2))
    assert results == dict.fromkeys(ids, "processed")
    for unlock_id, payment_id in sales:
        row = await unlock_row(unlock_id)
        assert row["status"] == "COMPLETED" and row["provider_payment_id"] == payment_id
        assert row["completed_via"] == "webhook"
    assert (
        sample("linkmint_convergence_outcomes_total", path="webhook", result="completed")
        - completed_before
        == 3
    )
    assert all([(await events(i))[0]["processed_at"] is not None for i in ids])
    assert await inbox.process_events(whop, ids) == dict.fromkeys(ids, "skipped")


@pytest.mark.usefixtures("quiet_whop")
async def test_a_refund_event_hides_the_link_again(client, settings, recipe):
    unlock_id, payment_id = await paid(client, recipe["id"])
    await post(client, *signed_event(settings, "payment.succeeded", {"id": payment_id}))
    refund = await client.post(
        f"/_whop/api/v1/payments/{payment_id}/refund", json={}, headers=whop_auth(settings)
    )
    assert refund.status_code == 200
    data = {"id": "rf_x", "payment": {"id": payment_id}, "status": "succeeded"}
    assert (await post(client, *signed_event(settings, "refund.created", data))).status_code == 200
    row = await unlock_row(unlock_id)
    assert row["status"] == "REFUNDED" and row["refunded_at"] is not None
    fragment = await client.get(f"/u/{recipe['id']}", headers={"HX-Request": "true"})
    assert "secret.example" not in fragment.text and "refunded" in fragment.text
    # The second refund event (refund.updated) and a replayed success change nothing.
    await post(client, *signed_event(settings, "refund.updated", data))
    await post(client, *signed_event(settings, "payment.succeeded", {"id": payment_id}))
    assert (await unlock_row(unlock_id))["status"] == "REFUNDED"


@pytest.mark.usefixtures("quiet_whop")
async def test_a_late_payment_failed_never_demotes_a_completed_unlock(client, settings, recipe):
    unlock_id, payment_id = await paid(client, recipe["id"])
    await post(client, *signed_event(settings, "payment.succeeded", {"id": payment_id}))
    # A forged-looking body cannot lie: the payment is read from Whop, and it is paid.
    r = await post(client, *signed_event(settings, "payment.failed", {"id": payment_id}))
    assert r.status_code == 200
    assert (await unlock_row(unlock_id))["status"] == "COMPLETED"


# --- what is not a genuine, fresh Whop webhook: 4xx, never 5xx, nothing stored ---------------


async def test_stale_or_future_timestamps_are_refused_and_fresh_ones_accepted(client, settings):
    # (A few seconds inside and outside the ±300 s tolerance, each from the clock just
    # before its own delivery: on a loaded machine a second can pass between two of them.)
    for offset, status in ((-305, 400), (305, 400), (-295, 200), (295, 200)):
        timestamp = int(time.time()) + offset
        body, headers = signed_event(settings, "membership.activated", {}, timestamp=timestamp)
        r = await post(client, body, headers)
        assert r.status_code == status, offset
        assert len(await events(headers["webhook-id"])) == (1 if status == 200 else 0)


async def test_a_tampered_or_reformatted_body_is_refused(client, settings):
    body, headers = signed_event(settings, "payment.succeeded", {"id": "pay_Abc"})
    flipped = body.replace(b"pay_Abc", b"pay_Abd")
    reformatted = json.dumps(json.loads(body), indent=2).encode()
    for tampered in (flipped, reformatted, body + b" "):
        assert (await post(client, tampered, headers)).status_code == 400
    assert await WebhookEvent.count() == 0


async def test_a_wrong_secret_is_refused_and_one_good_signature_among_several_is_enough(
    client, settings
):
    body, headers = signed_event(settings, "membership.activated", {}, secret="ws_old_secret")
    assert (await post(client, body, headers)).status_code == 400
    assert await events(headers["webhook-id"]) == []
    good = sign_webhook(
        settings.whop_webhook_secret,
        headers["webhook-id"],
        int(headers["webhook-timestamp"]),
        body,
    )
    rotated = {**headers, "webhook-signature": f"{headers['webhook-signature']} {good}"}
    assert (await post(client, body, rotated)).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-id": None},
        {"webhook-timestamp": None},
        {"webhook-signature": None},
        {"webhook-signature": "v1"},
        {"webhook-signature": "garbage"},
        {"webhook-signature": "v1,a,b"},
        {"webhook-signature": "v1,!!!"},
        {"webhook-signature": ""},
        {"webhook-timestamp": "soon"},
        {"webhook-timestamp": "1e9"},
        {"webhook-id": "x" * 300},
    ],
)
async def test_malformed_headers_are_4xx_never_5xx(client, settings, change):
    failures_before = sample("linkmint_webhook_signature_failures_total")
    body, headers = signed_event(settings, "payment.succeeded", {"id": "pay_Abc"})
    for name, value in change.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    r = await post(client, body, headers)
    assert r.status_code == 400
    assert sample("linkmint_webhook_signature_failures_total") == failures_before + 1
    assert await WebhookEvent.count() == 0


async def test_bodies_that_are_not_whop_events_are_4xx(client, settings):
    for body in (b"", b"not json", b"[1, 2]", b'{"data": {}}', b'{"type": 5}'):
        headers = {
            "webhook-id": "msg_shape",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": sign_webhook(
                settings.whop_webhook_secret, "msg_shape", int(time.time()), body
            ),
        }
        assert (await post(client, body, headers)).status_code == 400
    assert await WebhookEvent.count() == 0


async def test_nul_characters_never_make_a_500(client, settings):
    body, headers = signed_event(settings, "membership.activated", {"note": "a\u0000b"})
    assert (await post(client, body, headers)).status_code == 200
    [event] = await events(headers["webhook-id"])
    assert event["processed_at"] is not None
    body, headers = signed_event(settings, "payment.\u0000succeeded", {})
    assert (await post(client, body, headers)).status_code == 400
    assert await events(headers["webhook-id"]) == []


async def test_json_that_postgresql_cannot_hold_is_4xx_and_stored_as_parsed_otherwise(
    client, settings
):
    for raw in (
        b'{"type": "membership.activated", "data": {"n": NaN}}',
        b'{"type": "membership.activated", "data": {"n": Infinity}}',
    ):
        headers = {
            "webhook-id": "msg_constant",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": sign_webhook(
                settings.whop_webhook_secret, "msg_constant", int(time.time()), raw
            ),
        }
        assert (await post(client, raw, headers)).status_code == 400
    assert await WebhookEvent.count() == 0
    # Stored as Whop sent it (spacing and all): the jsonb holds the same document.
    raw = b'{"type": "membership.activated",  "data": {"id": "mem_1", "note": "caf\xc3\xa9"}}'
    headers = {
        "webhook-id": "msg_raw",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": sign_webhook(
            settings.whop_webhook_secret, "msg_raw", int(time.time()), raw
        ),
    }
    assert (await post(client, raw, headers)).status_code == 200
    [event] = await events("msg_raw")
    payload = (
        event["payload"] if isinstance(event["payload"], dict) else json.loads(event["payload"])
    )
    assert payload == {"type": "membership.activated", "data": {"id": "mem_1", "note": "café"}}


async def test_an_oversized_body_is_refused_before_it_is_read(client, settings):
    body, headers = signed_event(settings, "payment.succeeded", {"pad": "x" * 10_000_000})
    r = await post(client, body, headers)
    assert r.status_code == 413
    assert await WebhookEvent.count() == 0


async def test_the_webhook_needs_no_csrf_token_but_only_a_signature(app, settings):
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app, base_url=settings.app_url) as whop_itself:
        body, headers = signed_event(settings, "membership.activated", {})
        signed = await whop_itself.post("/webhooks/whop", content=body, headers=headers)
        unsigned = await whop_itself.post("/webhooks/whop", content=body)
    assert (signed.status_code, unsigned.status_code) == (200, 400)


# --- events that change nothing are still stored and acknowledged -----------------------------


async def test_an_unknown_payment_and_an_unhandled_type_are_2xx_and_stored(client, settings):
    unknown = signed_event(settings, "payment.succeeded", {"id": "pay_NoSuchPayment01"})
    unhandled = signed_event(settings, "membership.activated", {"id": "mem_1"})
    no_id = signed_event(settings, "payment.succeeded", {"amount": 3})
    unknown_payment = {"type": "payment.succeeded", "result": "unknown_payment"}
    before = sample("linkmint_webhook_events_processed_total", **unknown_payment)
    for body, headers in (unknown, unhandled, no_id):
        r = await post(client, body, headers)
        assert r.status_code == 200
        [event] = await events(headers["webhook-id"])
        assert event["processed_at"] is not None
    # Only the first names a payment; the last has no id to look up.
    assert sample("linkmint_webhook_events_processed_total", **unknown_payment) - before == 1


# --- retries: stored but not processed is never lost ----------------------------------------


@pytest.mark.usefixtures("quiet_whop")
async def test_a_crash_after_storing_is_processed_exactly_once_on_redelivery(
    client, settings, recipe, monkeypatch
):
    unlock_id, payment_id = await paid(client, recipe["id"])
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})

    async def crash(whop, event_ids, **options):
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patch:
        patch.setattr(inbox, "process_events", crash)
        r = await post(client, body, headers)
    assert r.status_code == 200  # answered once stored: what happens next is ours to finish
    [stored] = await events(headers["webhook-id"])
    assert stored["processed_at"] is None
    assert (await unlock_row(unlock_id))["status"] == "PENDING"

    completed_before = sample(
        "linkmint_convergence_outcomes_total", path="webhook", result="completed"
    )
    again = await post(client, body, headers)  # Whop retries the same delivery
    assert again.status_code == 200 and again.text == "duplicate\n"
    [processed] = await events(headers["webhook-id"])
    assert processed["processed_at"] is not None and processed["attempts"] == 1
    assert (await unlock_row(unlock_id))["status"] == "COMPLETED"
    assert (
        sample("linkmint_convergence_outcomes_total", path="webhook", result="completed")
        - completed_before
        == 1
    )
    third = await post(client, body, headers)
    assert third.text == "duplicate\n"
    assert (await unlock_row(unlock_id))["status"] == "COMPLETED"
    assert (
        sample("linkmint_convergence_outcomes_total", path="webhook", result="completed")
        - completed_before
        == 1
    )


@pytest.mark.usefixtures("quiet_whop")
async def test_whop_down_while_processing_keeps_the_event_for_the_drainer(
    client, settings, recipe, whop
):
    unlock_id, payment_id = await paid(client, recipe["id"])
    await faults.add_fault(
        "api", method="GET", path=f"/payments/{payment_id}", status=429, retry_after=600
    )
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
    r = await post(client, body, headers)
    assert r.status_code == 200  # stored: Whop's retries would add nothing
    [event] = await events(headers["webhook-id"])
    assert event["processed_at"] is None and event["attempts"] == 1
    assert "429" in event["last_error"]
    assert (await unlock_row(unlock_id))["status"] == "PENDING"

    young = await drain_inbox(whop)  # fresh events are left to Whop's own retries
    assert headers["webhook-id"] not in young.tried
    report = await drain_inbox(whop, min_age=timedelta(0))
    assert report.processed >= 1 and headers["webhook-id"] in report.tried
    assert (await unlock_row(unlock_id))["completed_via"] == "webhook"
    [event] = await events(headers["webhook-id"])
    assert event["processed_at"] is not None and event["attempts"] == 2
    assert event["last_error"] is None


@pytest.mark.usefixtures("quiet_whop")
async def test_the_drainer_gives_up_after_its_attempts_and_a_replay_still_works(
    client, settings, recipe, whop
):
    unlock_id, payment_id = await paid(client, recipe["id"])
    body, headers = signed_event(settings, "payment.succeeded", {"id": payment_id})
    await WebhookEvent.raw(
        "INSERT INTO webhook_event (id, type, payload, attempts, last_error) "
        "VALUES ({}, 'payment.succeeded', {}::jsonb, {}, 'Whop was down')",
        headers["webhook-id"],
        body.decode(),
        MAX_ATTEMPTS,
    )
    assert headers["webhook-id"] not in (await drain_inbox(whop, min_age=timedelta(0))).tried
    replay = await drain_inbox(whop, min_age=timedelta(0), max_attempts=None)
    assert headers["webhook-id"] in replay.tried and replay.processed >= 1
    assert (await unlock_row(unlock_id))["status"] == "COMPLETED"


# --- payout-method and verification events re-check the creator with Whop -------------------


async def test_payout_events_ask_whop_whether_the_creator_can_be_paid(
    client, settings, make_creator
):
    company = await connected_company(client, settings, "carol")
    carol = await make_creator(handle="carol", whop_company_id=company, payout_enabled=True)
    for event_type in (
        "payout_method.created",
        "verification.succeeded",
        "payout_account.status_updated",
    ):
        body, headers = signed_event(settings, event_type, {"id": "x"}, company_id=company)
        assert (await post(client, body, headers)).status_code == 200
        [event] = await events(headers["webhook-id"])
        assert event["processed_at"] is not None
        # Whop knows no payout method for this company: the flag follows Whop, not the event.
        [row] = await Creator.select(Creator.payout_enabled).where(Creator.id == carol["id"])
        assert row["payout_enabled"] is False


@pytest.mark.usefixtures("quiet_whop")
async def test_payout_method_created_names_its_company_inside_data(client, settings, make_creator):
    company = await connected_company(client, settings, "erin")
    erin = await make_creator(handle="erin", whop_company_id=company)
    link = await client.post(
        "/_whop/api/v1/account_links",
        json={"company_id": company, "use_case": "account_onboarding",
              "return_url": "https://nowhere.example/back",
              "refresh_url": "https://nowhere.example/again"},
        headers=whop_auth(settings),
    )  # fmt: skip
    form = {
        "legal_name": "Erin E",
        "country": "US",
        "account_number": "12345678",
        "action": "complete",
    }
    done = await client.post(link.json()["url"], data=form, follow_redirects=False)
    assert done.status_code == 303
    # Whop's own deliveries are lost; this one, as Whop sends it, has no top-level company.
    method = (await client.get(
        "/_whop/api/v1/payout_methods", params={"company_id": company},
        headers=whop_auth(settings),
    )).json()["data"][0]  # fmt: skip
    assert method["company"] == {"id": company}
    body, headers = signed_event(settings, "payout_method.created", method, company_id=None)
    enabled = {"type": "payout_method.created", "result": "payout_enabled"}
    before = sample("linkmint_webhook_events_processed_total", **enabled)
    assert (await post(client, body, headers)).status_code == 200
    [row] = await Creator.select(Creator.payout_enabled).where(Creator.id == erin["id"])
    assert row["payout_enabled"] is True
    assert sample("linkmint_webhook_events_processed_total", **enabled) - before == 1


async def test_finishing_kyc_on_whop_enables_payouts_through_the_webhooks_alone(
    client, settings, make_creator
):
    from tests.support.whop_testkit import eventually

    company = await connected_company(client, settings, "dana")
    dana = await make_creator(handle="dana", whop_company_id=company)
    link = await client.post(
        "/_whop/api/v1/account_links",
        json={
            "company_id": company,
            "use_case": "account_onboarding",
            "return_url": "https://nowhere.example/back",  # the redirect is never followed
            "refresh_url": "https://nowhere.example/again",
        },
        headers=whop_auth(settings),
    )
    kyc = link.json()["url"]
    form = {
        "legal_name": "Dana D",
        "country": "US",
        "account_number": "12345678",
        "action": "complete",
    }
    r = await client.post(kyc, data=form, follow_redirects=False)
    assert r.status_code == 303

    async def enabled():
        [row] = await Creator.select(Creator.payout_enabled).where(Creator.id == dana["id"])
        return row["payout_enabled"]

    await eventually(enabled, within=10)
