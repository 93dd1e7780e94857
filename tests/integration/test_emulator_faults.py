"""The emulator misbehaves on request, exactly as asked — over its control API or from Python."""

# ruff: noqa: F811 (the shared fixtures are imported, then named as test arguments)
from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from app.emulator import delivery, faults
from tests.support.whop_testkit import (  # noqa: F401 (fixtures)
    api,
    browser,
    checkout,
    connected_company,
    emulator_control,
    eventually,
    hook_for,
    live_settings,
    pay,
    query_of,
    receiver,
)

pytestmark = pytest.mark.usefixtures("emulator_control")


@pytest.fixture
async def control(live_server, live_settings):
    async with httpx.AsyncClient(
        base_url=f"{live_server}/_whop/_control",
        headers={"Authorization": f"Bearer {live_settings.whop_api_key}"},
    ) as client:
        yield client


async def company_with_receiver(api, settings, receiver, *events: str) -> dict:
    company = await connected_company(api, settings)
    await hook_for(receiver, api, company["id"], events=list(events))
    return company


async def buy(api, browser, company_id: str, **kwargs) -> str:
    config = await checkout(api, company_id, **kwargs)
    r = await pay(browser, config["purchase_url"])
    return query_of(r.headers["location"])["payment_id"]


# --- the control API itself ----------------------------------------------------------------


async def test_the_control_api_needs_the_api_key(live_server):
    async with httpx.AsyncClient(base_url=f"{live_server}/_whop/_control") as anon:
        r = await anon.post("/faults", json={"kind": "drop_redirect"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
    assert await faults.list_faults() == []


@pytest.mark.parametrize(
    "body,message",
    [
        ({"kind": "explode"}, "unknown fault kind"),
        ({}, "kind is required"),
        ({"kind": "api", "path": "payments"}, "path must be"),
        ({"kind": "api", "path": "/payments"}, "needs a status, a hang"),
        ({"kind": "api", "path": "/payments", "status": 200}, "at least 400"),
        ({"kind": "api", "path": "/x", "hang": 1, "when": "after"}, "needs a status"),
        ({"kind": "duplicate", "copies": 1}, "copies must be at least 2"),
        ({"kind": "drop", "attempts": 0}, "attempts must be at least 1"),
        ({"kind": "delay", "seconds": "soon"}, "seconds must be a number"),
        ({"kind": "drop_redirect", "times": 0}, "times must be"),
    ],
)
async def test_a_fault_that_makes_no_sense_is_refused_with_the_reason(control, body, message):
    r = await control.post("/faults", json=body)
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]
    assert await faults.list_faults() == []


async def test_faults_are_armed_listed_and_cleared_over_http(control):
    armed = await control.post("/faults", json={"kind": "drop_redirect", "times": 2})
    assert armed.status_code == 200 and armed.json()["remaining"] == 2
    assert [f["kind"] for f in (await control.get("/faults")).json()] == ["drop_redirect"]
    assert (await control.delete("/faults")).json() == {"cleared": 1}
    assert (await control.get("/faults")).json() == []


async def test_the_time_scale_is_a_control_setting(control):
    r = await control.put("/settings", json={"time_scale": 0.5})
    assert r.json()["time_scale"] == 0.5
    assert (await control.put("/settings", json={"time_scale": 0})).status_code == 422
    assert (await control.put("/settings", json={"tempo": 1})).status_code == 422
    assert (await control.delete("/settings")).json() == {
        "time_scale": 1.0,
        "receiver_timeout": 5.0,
        "access_token_lifetime": None,
        "tax_rates": {},
    }


async def test_tax_rates_are_set_over_http_and_a_bad_one_is_refused(control):
    r = await control.put("/settings", json={"tax_rates": {"DE": 19, "GB": 20}})
    assert r.status_code == 200 and r.json()["tax_rates"] == {"DE": 19.0, "GB": 20.0}
    assert (await control.get("/settings")).json()["tax_rates"] == {"DE": 19.0, "GB": 20.0}
    refused = await control.put("/settings", json={"tax_rates": {"DE": -1}})
    assert refused.status_code == 422 and "between 0 and 100" in refused.text


# --- API faults -------------------------------------------------------------------------------


async def test_a_route_answers_500_the_chosen_number_of_times(api, live_settings):
    await faults.add_fault("api", method="GET", path="/companies/*", status=500, times=2)
    path = f"/companies/{live_settings.whop_parent_company_id}"
    statuses = [(await api.get(path)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


async def test_a_500_fault_carries_whops_error_body(api, live_settings):
    await faults.add_fault("api", path="/companies/*", status=503)
    r = await api.get(f"/companies/{live_settings.whop_parent_company_id}")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "injected_fault"


async def test_a_fault_only_hits_its_method_and_path(api, live_settings):
    await faults.add_fault("api", method="POST", path="/companies", status=500)
    assert (await api.get(f"/companies/{live_settings.whop_parent_company_id}")).status_code == 200
    assert (await api.get("/companies")).status_code == 200
    company = await api.post("/companies", json={})
    assert company.status_code == 500


async def test_a_429_says_when_to_try_again_in_the_message_and_header(api, live_settings):
    await faults.add_fault(
        "api", path="/companies/*", status=429, retry_after=12, retry_after_header=True
    )
    r = await api.get(f"/companies/{live_settings.whop_parent_company_id}")
    assert r.status_code == 429
    assert r.json()["error"] == {
        "type": "rate_limit_exceeded",
        "code": None,
        "message": "Try again in 12 seconds.",
        "param": None,
    }
    assert r.headers["retry-after"] == "12"


async def test_a_hang_stalls_the_answer(api, live_settings):
    await faults.add_fault("api", path="/companies/*", hang=0.6)
    started = time.monotonic()
    r = await api.get(f"/companies/{live_settings.whop_parent_company_id}")
    assert r.status_code == 200 and time.monotonic() - started >= 0.6
    with pytest.raises(httpx.ReadTimeout):
        await faults.add_fault("api", path="/companies/*", hang=2)
        await api.get(f"/companies/{live_settings.whop_parent_company_id}", timeout=0.3)


async def test_an_after_fault_does_the_work_and_loses_the_answer(api, live_settings):
    await faults.add_fault("api", method="POST", path="/companies", status=500, when="after")
    title = f"Lost answer {time.time_ns()}"
    r = await api.post(
        "/companies",
        json={
            "title": title,
            "email": "x@example.com",
            "parent_company_id": live_settings.whop_parent_company_id,
        },
    )
    assert r.status_code == 500
    listed = (await api.get("/companies", params={"first": 100})).json()["data"]
    assert title in {c["title"] for c in listed}


# --- webhook faults --------------------------------------------------------------------------


async def test_a_duplicated_event_arrives_n_times_with_one_webhook_id(
    api, browser, live_settings, receiver
):
    company = await company_with_receiver(api, live_settings, receiver, "payment.succeeded")
    await faults.add_fault("duplicate", event_type="payment.succeeded", copies=3)
    await buy(api, browser, company["id"])
    await eventually(lambda: len(receiver.requests) >= 3)
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1


async def test_a_delayed_event_arrives_after_the_delay(api, browser, live_settings, receiver):
    company = await company_with_receiver(api, live_settings, receiver, "payment.succeeded")
    await faults.add_fault("delay", event_type="payment.succeeded", seconds=1.0)
    started = time.monotonic()
    await buy(api, browser, company["id"])
    await eventually(lambda: receiver.requests, within=5)
    assert receiver.requests[0].at - started >= 1.0


async def test_dropped_attempts_are_retried_on_schedule(api, browser, live_settings, receiver):
    company = await company_with_receiver(api, live_settings, receiver, "payment.succeeded")
    await faults.add_fault("drop", event_type="payment.succeeded", attempts=2)
    started = time.monotonic()
    await buy(api, browser, company["id"])
    await eventually(lambda: receiver.requests)
    # attempts 1 and 2 were lost; the third comes 10 + 20 s (scaled) after the first
    assert receiver.requests[0].at - started >= 0.29
    event_id = receiver.requests[0].headers["webhook-id"]

    async def settled():  # the attempt is logged once the receiver's answer is back
        [log] = await delivery.delivery_log(event_id=event_id, url=receiver.url)
        return log["status"] == "succeeded" and log

    log = await eventually(settled)
    assert [a["outcome"] for a in log["attempts"]] == ["dropped", "dropped", "delivered"]


async def test_four_dropped_attempts_lose_the_event(api, browser, live_settings, receiver):
    company = await company_with_receiver(api, live_settings, receiver, "payment.succeeded")
    await faults.add_fault("drop", event_type="payment.succeeded", attempts=4)
    payment_id = await buy(api, browser, company["id"])

    async def failed():
        log = await delivery.delivery_log(event_type="payment.succeeded", url=receiver.url)
        mine = [d for d in log if d["body"]["data"]["id"] == payment_id]
        return mine and mine[0]["status"] == "failed" and mine

    [log] = await eventually(failed)
    assert [a["outcome"] for a in log["attempts"]] == ["dropped"] * 4
    assert receiver.requests == []


async def test_reordered_events_arrive_newest_first(api, browser, live_settings, receiver):
    company = await company_with_receiver(api, live_settings, receiver, "payment.succeeded")
    await faults.add_fault("reorder", event_type="payment.succeeded", count=2)
    first = await buy(api, browser, company["id"])
    await asyncio.sleep(0.3)
    assert receiver.requests == []  # held until the second one exists
    second = await buy(api, browser, company["id"])
    await eventually(lambda: len(receiver.requests) >= 2)
    assert [b["data"]["id"] for b in receiver.bodies()] == [second, first]


async def test_a_dropped_redirect_leaves_the_buyer_on_whops_receipt(api, browser, live_settings):
    company = await connected_company(api, live_settings)
    await faults.add_fault("drop_redirect")
    config = await checkout(api, company["id"])
    lost = await pay(browser, config["purchase_url"])
    assert lost.status_code == 200 and "Payment complete" in lost.text
    listed = (await api.get("/payments", params={"company_id": company["id"]})).json()["data"]
    assert [p["status"] for p in listed] == ["paid"]  # paid all the same
    back = await pay(browser, config["purchase_url"])
    assert back.status_code == 303  # only the next checkout was affected


async def test_an_event_can_be_redelivered_over_the_control_api(
    api, browser, live_settings, receiver, control
):
    company = await company_with_receiver(api, live_settings, receiver, "payment.succeeded")
    await buy(api, browser, company["id"])
    await eventually(lambda: receiver.requests)
    event_id = receiver.requests[0].headers["webhook-id"]
    r = await control.post(f"/events/{event_id}/redeliver", json={"times": 2})
    assert r.status_code == 200 and r.json()["deliveries"] >= 2
    await eventually(lambda: len(receiver.requests) >= 3)
    assert {r.headers["webhook-id"] for r in receiver.requests} == {event_id}
    logged = await control.get("/deliveries", params={"event_id": event_id, "url": receiver.url})
    assert len(logged.json()) == 3
    events = (await control.get("/events", params={"company_id": company["id"]})).json()
    assert event_id in {e["id"] for e in events}


async def test_faults_armed_over_http_are_obeyed(api, live_settings, control):
    armed = await control.post(
        "/faults", json={"kind": "api", "path": "/companies/*", "status": 502, "hang": 0.4}
    )
    assert armed.status_code == 200, armed.text
    started = time.monotonic()
    r = await api.get(f"/companies/{live_settings.whop_parent_company_id}")
    assert r.status_code == 502 and time.monotonic() - started >= 0.4
