"""The Whop emulator is never exposed by accident: its consent page signs anyone in as any
user it lists, so it is mounted on a loopback APP_URL, or on a public one only with
WHOP_EMULATOR=1; a public APP_URL without Whop's settings refuses to start."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from app.config import Settings, SettingsError, settings_from
from app.main import create_app
from tests.support.servers import ROOT, free_port

WHOP_NAMES = (
    "WHOP_API_BASE",
    "WHOP_OAUTH_BASE",
    "WHOP_API_KEY",
    "WHOP_CLIENT_ID",
    "WHOP_CLIENT_SECRET",
    "WHOP_PARENT_COMPANY_ID",
    "WHOP_WEBHOOK_SECRET",
)
AT_WHOP = {
    "SECRET_KEY": "k" * 40,
    "WHOP_API_BASE": "https://api.whop.com/api/v1",
    "WHOP_OAUTH_BASE": "https://api.whop.com/oauth",
    "WHOP_API_KEY": "apik_x",
    "WHOP_CLIENT_ID": "app_x",
    "WHOP_CLIENT_SECRET": "s",
    "WHOP_PARENT_COMPANY_ID": "biz_x",
    "WHOP_WEBHOOK_SECRET": "ws_x",
}


def mounts_the_emulator(settings: Settings) -> bool:
    return any(route.path.startswith("/_whop") for route in create_app(settings).routes)


@pytest.mark.parametrize(
    "app_url",
    [
        "http://127.0.0.1:8000",
        "http://127.1.2.3:8000",  # all of 127.0.0.0/8
        "http://[::1]:8000",
        "http://localhost:8000",
        "http://LOCALHOST",
    ],
)
def test_on_a_loopback_app_url_the_emulator_is_mounted(tmp_path, app_url):
    settings = settings_from({"APP_URL": app_url, "VAR_DIR": str(tmp_path)})
    assert settings.emulator_enabled and settings.loopback and not settings.whop_emulator
    assert mounts_the_emulator(settings)


@pytest.mark.parametrize(
    "app_url", ["https://linkmint.example", "http://testserver.local", "http://10.0.0.5:8000"]
)
def test_a_public_app_url_without_whops_settings_refuses_to_start(tmp_path, app_url):
    with pytest.raises(SettingsError) as refused:
        settings_from({"APP_URL": app_url, "VAR_DIR": str(tmp_path)})
    message = str(refused.value)
    assert message.startswith("WHOP_API_BASE: is not set")
    assert "anyone can sign in as any user" in message and "WHOP_EMULATOR=1" in message
    for name in WHOP_NAMES:
        assert name in message
    assert not (tmp_path / "dev-credentials.json").exists()  # refused before generating


@pytest.mark.parametrize("opt_in", ["1", "true", "yes"])
def test_a_public_app_url_gets_the_emulator_when_the_operator_opts_in(tmp_path, opt_in):
    settings = settings_from(
        {"APP_URL": "https://demo.linkmint.example", "WHOP_EMULATOR": opt_in,
         "VAR_DIR": str(tmp_path)}
    )  # fmt: skip
    assert settings.whop_emulator and settings.emulator_enabled and not settings.loopback
    assert mounts_the_emulator(settings)


@pytest.mark.parametrize("opt_in", ["0", "1"])
def test_with_whops_settings_the_emulator_is_not_mounted(tmp_path, opt_in):
    settings = settings_from(
        {**AT_WHOP, "APP_URL": "https://linkmint.example", "WHOP_EMULATOR": opt_in,
         "VAR_DIR": str(tmp_path)}
    )  # fmt: skip
    assert not settings.emulator_enabled
    assert not mounts_the_emulator(settings)


def test_an_opt_in_that_is_neither_yes_nor_no_is_refused_with_its_name(tmp_path):
    with pytest.raises(SettingsError) as refused:
        settings_from({"WHOP_EMULATOR": "maybe", "VAR_DIR": str(tmp_path)})
    assert str(refused.value) == "WHOP_EMULATOR: must be 1 or 0"


def test_settings_made_by_hand_obey_the_same_rule(tmp_path):
    local = settings_from({"VAR_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="^WHOP_API_BASE: is not set"):
        dataclasses.replace(local, app_url="https://linkmint.example")
    exposed = dataclasses.replace(local, app_url="https://linkmint.example", whop_emulator=True)
    assert mounts_the_emulator(exposed)


def test_linkmint_serve_refuses_a_public_app_url_without_whops_settings(tmp_path):
    env = {
        **os.environ,
        "APP_URL": "https://linkmint.example",
        "WHOP_EMULATOR": "",  # the test suite's own opt-in, cleared
        "VAR_DIR": str(tmp_path),
    }
    for name in WHOP_NAMES:
        env.pop(name, None)
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("linkmint: configuration error: WHOP_API_BASE: is not set")
    for name in WHOP_NAMES:
        assert name in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "dev-credentials.json").exists()
