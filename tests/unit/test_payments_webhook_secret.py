"""T13: a webhook secret read from a file that ends in a newline still verifies Whop's
signatures (the settings strip it; unstripped, every webhook would fail in silence). And
whichever secret Whop shows (`ws_…` from the API and some dashboards, `whsec_…` from
others), the settings take it and its whole text is the HMAC key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks

from app.config import SettingsError, settings_from
from app.whop.webhooks import WebhookVerificationError, verify_webhook, webhook_headers

SECRET = "ws_file_secret_0123456789abcdef"


def test_a_secret_file_ending_in_a_newline_still_verifies(tmp_path):
    secret_file = tmp_path / "whop_webhook_secret"
    secret_file.write_text(SECRET + "\n")
    settings = settings_from(
        {
            "APP_URL": "https://linkmint.example",
            "SECRET_KEY": "s" * 40,
            "WHOP_API_BASE": "https://api.whop.example/api/v1",
            "WHOP_OAUTH_BASE": "https://api.whop.example/oauth",
            "WHOP_API_KEY": "apik_x",
            "WHOP_CLIENT_ID": "app_x",
            "WHOP_CLIENT_SECRET": "s",
            "WHOP_PARENT_COMPANY_ID": "biz_x",
            "WHOP_WEBHOOK_SECRET": secret_file.read_text(),
            "VAR_DIR": str(tmp_path),
        }
    )
    body = json.dumps({"type": "payment.succeeded", "data": {"id": "pay_1"}}).encode()
    headers = webhook_headers(SECRET, "msg_1", body, int(time.time()))  # as Whop signs
    event = verify_webhook(settings.whop_webhook_secret, headers, body)
    assert event.type == "payment.succeeded" and event.webhook_id == "msg_1"


WHSEC = "whsec_dashboard_secret_0123456789abcdef"
WHOP = {
    "APP_URL": "https://linkmint.example",
    "SECRET_KEY": "s" * 40,
    "WHOP_API_BASE": "https://api.whop.example/api/v1",
    "WHOP_OAUTH_BASE": "https://api.whop.example/oauth",
    "WHOP_API_KEY": "apik_x",
    "WHOP_CLIENT_ID": "app_x",
    "WHOP_CLIENT_SECRET": "s",
    "WHOP_PARENT_COMPANY_ID": "biz_x",
}


@pytest.mark.parametrize("secret", [WHSEC, SECRET, "a secret without Whop's prefix"])
def test_any_secret_whop_shows_is_accepted_by_the_settings(tmp_path, secret):
    settings = settings_from({**WHOP, "WHOP_WEBHOOK_SECRET": secret, "VAR_DIR": str(tmp_path)})
    assert settings.whop_webhook_secret == secret


@pytest.mark.parametrize("secret", ["", "  \n"])
def test_an_empty_secret_is_refused_by_name(tmp_path, secret):
    with pytest.raises(SettingsError, match="WHOP_WEBHOOK_SECRET"):
        settings_from({**WHOP, "WHOP_WEBHOOK_SECRET": secret, "VAR_DIR": str(tmp_path)})


def test_a_whsec_secret_verifies_deliveries_signed_with_its_whole_bytes():
    body = json.dumps({"type": "payment.succeeded", "data": {"id": "pay_1"}}).encode()
    now = int(time.time())
    # As Whop signs: HMAC-SHA256 keyed by the UTF-8 bytes of the whole secret, prefix and all.
    mac = hmac.new(WHSEC.encode(), f"msg_1.{now}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }
    assert verify_webhook(WHSEC, headers, body).webhook_id == "msg_1"
    # The reference library strips `whsec_` and base64-decodes what is left; given base64 of
    # the whole secret, it signs the same way.
    library = standardwebhooks.Webhook(base64.b64encode(WHSEC.encode()).decode())
    signed_by_library = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(now),
        "webhook-signature": library.sign("msg_2", datetime.fromtimestamp(now, UTC), body.decode()),
    }
    assert verify_webhook(WHSEC, signed_by_library, body).webhook_id == "msg_2"


def test_a_whsec_secret_is_not_read_the_reference_librarys_way():
    body = b'{"type": "payment.succeeded"}'
    now = int(time.time())
    # The library's own reading of a `whsec_` secret: the prefix dropped, the rest base64.
    key = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    library = standardwebhooks.Webhook("whsec_" + key)
    headers = {
        "webhook-id": "msg_3",
        "webhook-timestamp": str(now),
        "webhook-signature": library.sign("msg_3", datetime.fromtimestamp(now, UTC), body.decode()),
    }
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + key, headers, body)
    assert (
        verify_webhook(
            "whsec_" + key, webhook_headers("whsec_" + key, "msg_3", body, now), body
        ).webhook_id
        == "msg_3"
    )
