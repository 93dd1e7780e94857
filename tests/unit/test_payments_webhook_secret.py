"""T13: a webhook secret read from a file that ends in a newline still verifies Whop's
signatures (the settings strip it; unstripped, every webhook would fail in silence)."""

from __future__ import annotations

import json
import time

from app.config import settings_from
from app.whop.webhooks import verify_webhook, webhook_headers

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
