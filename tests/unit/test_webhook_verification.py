"""Whop's webhook signatures: our signer, our verifier, and the reference library agree.

Whop keys the HMAC with the UTF-8 bytes of the whole `ws_…` secret; the `standardwebhooks`
library base64-decodes its key, so it is given base64 of the secret (as Whop's docs do).
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import standardwebhooks

from app.whop.webhooks import (
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
    webhook_headers,
)

SECRET = "ws_test_webhook_secret_0123456789abcdef"
BODY = json.dumps(
    {
        "id": "evt_abc",
        "api_version": "v1",
        "type": "payment.succeeded",
        "timestamp": "2026-11-26T12:00:00.000Z",
        "company_id": "biz_Child00000001",
        "data": {"id": "pay_Abc0000000001", "status": "paid"},
    }
).encode()
NOW = 1_800_000_000


def signed(body: bytes = BODY, *, secret: str = SECRET, at: int = NOW, msg_id: str = "evt_abc"):
    return webhook_headers(secret, msg_id, body, at)


def test_a_signed_event_verifies_and_reads_as_an_event():
    event = verify_webhook(SECRET, signed(), BODY, now=NOW)
    assert event.webhook_id == "evt_abc"
    assert event.type == "payment.succeeded"
    assert event.company_id == "biz_Child00000001"
    assert event.data == {"id": "pay_Abc0000000001", "status": "paid"}
    assert event.payload["api_version"] == "v1"
    assert event.signed_at.timestamp() == NOW


def test_the_reference_library_verifies_our_signature_given_base64_of_the_secret():
    wh = standardwebhooks.Webhook(base64.b64encode(SECRET.encode()).decode())
    payload = wh.verify(BODY.decode(), signed(at=int(time.time())))
    assert payload["type"] == "payment.succeeded"


def test_we_verify_what_the_reference_library_signs_with_base64_of_the_secret():
    from datetime import UTC, datetime

    wh = standardwebhooks.Webhook(base64.b64encode(SECRET.encode()).decode())
    signature = wh.sign("evt_lib", datetime.fromtimestamp(NOW, UTC), BODY.decode())
    headers = {
        "webhook-id": "evt_lib",
        "webhook-timestamp": str(NOW),
        "webhook-signature": signature,
    }
    assert verify_webhook(SECRET, headers, BODY, now=NOW).webhook_id == "evt_lib"


def test_the_key_is_the_secret_text_itself_not_its_base64_decoding():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"evt_abc.%d." % NOW + BODY, hashlib.sha256).digest()
    assert sign_webhook(SECRET, "evt_abc", NOW, BODY) == "v1," + base64.b64encode(expected).decode()


def test_header_names_are_case_insensitive():
    headers = {k.upper(): v for k, v in signed().items()}
    assert verify_webhook(SECRET, headers, BODY, now=NOW).type == "payment.succeeded"


def test_any_one_of_several_signatures_is_enough():
    good = signed()["webhook-signature"]
    stale = sign_webhook("ws_old_secret", "evt_abc", NOW, BODY)
    headers = {**signed(), "webhook-signature": f"v1a,AAAA {stale} garbage v1,!!! {good}"}
    assert verify_webhook(SECRET, headers, BODY, now=NOW).webhook_id == "evt_abc"


@pytest.mark.parametrize("skew", [-299, -300, 0, 299, 300])
def test_timestamps_within_five_minutes_either_way_are_accepted(skew):
    assert verify_webhook(SECRET, signed(at=NOW + skew), BODY, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, -86_400, 86_400])
def test_stale_and_future_timestamps_are_rejected(skew):
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, signed(at=NOW + skew), BODY, now=NOW)


def _reject(headers, body=BODY, secret=SECRET):
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body, now=NOW)


@pytest.mark.parametrize(
    "tampered",
    [
        BODY.replace(b"paid", b"void"),
        BODY + b" ",
        BODY + b"\n",
        b"",
        BODY[:-1],
    ],
)
def test_a_tampered_body_is_rejected(tampered):
    _reject(signed(), tampered)


def test_a_secret_with_a_trailing_newline_is_a_different_key():
    _reject(signed(), secret=SECRET + "\n")


@pytest.mark.parametrize("secret", ["ws_some_other_secret", "", base64.b64encode(SECRET.encode())])
def test_the_wrong_secret_is_rejected(secret):
    _reject(signed(), secret=secret)


@pytest.mark.parametrize(
    "signature",
    ["v1", "garbage", "v1,a,b", "v1,!!!", "v1,", ",", "v2," + "A" * 44, "v1,AAAA", "", " "],
)
def test_malformed_signature_headers_raise_only_the_verification_error(signature):
    _reject({**signed(), "webhook-signature": signature})


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_rejected(name):
    headers = signed()
    del headers[name]
    _reject(headers)


@pytest.mark.parametrize("stamp", ["soon", "1.8e9", "", "-1", "１８００", str(NOW) + "x", "0x1"])
def test_a_timestamp_that_is_not_unix_seconds_is_rejected(stamp):
    _reject({**signed(), "webhook-timestamp": stamp})


def test_a_different_message_id_breaks_the_signature():
    _reject({**signed(), "webhook-id": "evt_other"})


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"no": "type"}', b"\xff\xfe"])
def test_a_correctly_signed_body_that_is_no_whop_event_is_rejected(body):
    _reject(signed(body), body)


def test_a_body_given_as_text_instead_of_raw_bytes_is_rejected():
    _reject(signed(), BODY.decode())


def test_headers_that_are_not_a_mapping_are_rejected():
    _reject(None)
