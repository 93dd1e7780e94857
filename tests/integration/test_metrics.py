"""/metrics: Prometheus text for loopback scrapers only, with the database read at scrape time."""

from __future__ import annotations

import asyncio
import time

import httpx

from app.db.tables import Unlock
from tests.support.pages import samples
from tests.support.unlock_support import signed_event


async def test_metrics_answer_loopback_in_prometheus_text(live_server):
    async with httpx.AsyncClient(base_url=live_server) as scraper:
        r = await scraper.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert r.headers["cache-control"] == "no-store"
    assert "set-cookie" not in r.headers  # no CSRF cookie for a scraper
    names = {name for name, _ in samples(r.text)}
    for expected in (
        "linkmint_webhook_delivery_latency_seconds_bucket",
        "linkmint_webhook_signature_failures_total",
        "linkmint_webhook_duplicate_deliveries_total",
        "linkmint_oldest_pending_unlock_age_seconds",
        "linkmint_pending_unlocks",
        "linkmint_unprocessed_webhooks",
    ):
        assert expected in names


async def test_metrics_are_not_served_to_anyone_else(client):
    # The test client is not a loopback address (its host is "testclient").
    r = await client.get("/metrics")
    assert r.status_code == 404 and "linkmint_" not in r.text


async def test_the_oldest_pending_unlock_is_read_from_the_database_at_scrape_time(
    live_server, make_creator
):
    creator = await make_creator(handle="gauge")
    await Unlock.raw(
        "INSERT INTO unlock (id, creator, link_title, buyer_token_hash, price_cents, fee_cents, "
        "currency, created_at) VALUES ('gaugeunlock000000000001', {}, 't', {}, 500, 50, 'usd', "
        "now() - interval '10 minutes')",
        creator["id"],
        "f" * 64,
    )
    async with httpx.AsyncClient(base_url=live_server) as scraper:
        found = samples((await scraper.get("/metrics")).text)
    assert 595 < found[("linkmint_oldest_pending_unlock_age_seconds", ())] < 700
    assert found[("linkmint_pending_unlocks", ())] == 1


async def test_webhook_latency_signature_failures_and_duplicates_are_counted(live_server, settings):
    async with httpx.AsyncClient(base_url=live_server) as http:
        before = samples((await http.get("/metrics")).text)
        body, headers = signed_event(
            settings, "membership.activated", {}, timestamp=int(time.time()) - 3
        )
        for _ in range(2):
            delivered = await http.post("/webhooks/whop", content=body, headers=headers)
            assert delivered.status_code == 200
        bad = {**headers, "webhook-signature": "v1,!!!"}
        assert (await http.post("/webhooks/whop", content=body, headers=bad)).status_code == 400
        # Deliveries are answered once stored; the server's inbox workers process just after.
        processed = (
            "linkmint_webhook_events_processed_total",
            (("result", "ignored"), ("type", "membership.activated")),
        )
        for _ in range(100):
            after_text = (await http.get("/metrics")).text
            after = samples(after_text)
            if after.get(processed, 0.0) > before.get(processed, 0.0):
                break
            await asyncio.sleep(0.05)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    # (Other tests' webhooks may still be arriving at the same server: at least ours.)
    assert delta("linkmint_webhook_delivery_latency_seconds_count") >= 2
    assert delta("linkmint_webhook_delivery_latency_seconds_sum") >= 5.9  # ~3 s each
    assert delta("linkmint_webhook_duplicate_deliveries_total") == 1  # the second of ours
    assert delta("linkmint_webhook_signature_failures_total") == 1
    assert (
        delta(
            "linkmint_webhook_events_processed_total", type="membership.activated", result="ignored"
        )
        == 1
    )
    assert "# TYPE linkmint_convergence_outcomes_total counter" in after_text


async def test_csp_violations_reported_to_us_appear_in_the_metrics(live_server):
    report = {
        "csp-report": {
            "document-uri": f"{live_server}/dashboard/payouts",
            "effective-directive": "frame-src",
            "violated-directive": "frame-src",
            "blocked-uri": "https://frames.example/x",
            "disposition": "enforce",
        }
    }
    frame_src = ("linkmint_csp_violations_total", (("directive", "frame-src"),))
    async with httpx.AsyncClient(base_url=live_server) as browser:
        before = samples((await browser.get("/metrics")).text).get(frame_src, 0.0)
        r = await browser.post(
            "/csp-report", json=report, headers={"content-type": "application/csp-report"}
        )
        assert r.status_code == 204
        after = samples((await browser.get("/metrics")).text)[frame_src]
    assert after - before == 1
