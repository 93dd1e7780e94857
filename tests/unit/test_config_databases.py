"""The database settings beyond DATABASE_URL: a transaction pooler in front
(DATABASE_POOLER, DATABASE_DIRECT_URL) and a standby for public pages
(DATABASE_REPLICA_URL), and what they make of each connection's arguments."""

from __future__ import annotations

import pytest

from app.config import SettingsError, settings_from
from app.db.engine import connect_options

BASE = {
    "SECRET_KEY": "k" * 40,
    "WHOP_API_KEY": "apik_x",
    "WHOP_CLIENT_ID": "app_x",
    "WHOP_CLIENT_SECRET": "s",
    "WHOP_PARENT_COMPANY_ID": "biz_x",
    "WHOP_WEBHOOK_SECRET": "ws_x",
    "DATABASE_URL": "postgresql://app@127.0.0.1:6432/linkmint",
}
DIRECT = "postgresql://app@127.0.0.1:5432/linkmint"


def settings(tmp_path, **env: str):
    return settings_from({**BASE, "VAR_DIR": str(tmp_path), **env})


def test_by_default_there_is_no_pooler_direct_url_or_replica(tmp_path):
    s = settings(tmp_path)
    assert s.database_pooler == "none"
    assert s.database_direct_url is None and s.database_replica_url is None


def test_a_pooler_needs_the_direct_url_and_says_why(tmp_path):
    with pytest.raises(SettingsError) as err:
        settings(tmp_path, DATABASE_POOLER="pgbouncer")
    assert str(err.value).startswith("DATABASE_DIRECT_URL")
    assert "LISTEN" in str(err.value) and "migrations" in str(err.value)
    s = settings(tmp_path, DATABASE_POOLER="PgBouncer", DATABASE_DIRECT_URL=DIRECT)
    assert s.database_pooler == "pgbouncer" and s.database_direct_url == DIRECT


@pytest.mark.parametrize(
    "name,value",
    [
        ("DATABASE_POOLER", "pgpool"),
        ("DATABASE_DIRECT_URL", "mysql://127.0.0.1/x"),
        ("DATABASE_REPLICA_URL", "http://127.0.0.1:5433/x"),
    ],
)
def test_a_bad_database_setting_is_refused_with_its_name(tmp_path, name, value):
    with pytest.raises(SettingsError) as err:
        settings(tmp_path, **{name: value})
    assert str(err.value).startswith(name)


@pytest.mark.parametrize("name", ["DATABASE_DIRECT_URL", "DATABASE_REPLICA_URL"])
def test_a_second_database_url_without_the_first_is_refused(tmp_path, name):
    env = {k: v for k, v in BASE.items() if k != "DATABASE_URL"}
    with pytest.raises(SettingsError) as err:
        settings_from({**env, "VAR_DIR": str(tmp_path), name: DIRECT})
    assert str(err.value).startswith(name) and "DATABASE_URL" in str(err.value)


def test_behind_a_pooler_connections_keep_no_statements_and_send_no_timeout(tmp_path):
    s = settings(tmp_path, DATABASE_POOLER="pgbouncer", DATABASE_DIRECT_URL=DIRECT)
    pooled = connect_options(s, BASE["DATABASE_URL"], pooler=s.database_pooler)
    assert pooled["statement_cache_size"] == 0
    assert pooled["server_settings"] == {}  # PgBouncer refuses unknown startup parameters
    assert pooled["command_timeout"] == 6.0  # the client's own bound stays
    direct = connect_options(s, DIRECT)
    assert "statement_cache_size" not in direct
    assert direct["server_settings"] == {"statement_timeout": "5000"}
