"""deploy/: the nginx site and the systemd unit agree with the app they front and run, and
nginx and systemd accept them (where this machine has them)."""

from __future__ import annotations

import dataclasses
import inspect
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app import cli
from app.config import KNOWN_NAMES, Settings, settings_from
from app.payments.inbox import MAX_BODY_BYTES, InboxWorkers
from app.web.serving import GRACEFUL_SHUTDOWN_SECONDS
from bench.deployment import ROOT, SITE, UNIT, Unit, render_site
from bench.scaleout import nginx_conf

ENV_FILE = ROOT / "deploy" / "systemd" / "linkmint.env"
INBOX_UNIT = ROOT / "deploy" / "systemd" / "linkmint-inbox.service"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def rendered(tmp_path: Path) -> str:
    return render_site(
        SITE.read_text(),
        host="127.0.0.1",
        port=8080,
        redirect_port=8081,
        upstream_ports=[9001, 9002],
        cache=tmp_path / "cache",
    )


def directive(text: str, name: str) -> list[str]:
    return re.findall(rf"^[ \t]*{name}[ \t]+([^;{{]*);", text, re.MULTILINE)


DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings)}


def test_the_harness_runs_the_site_on_loopback_changing_only_ports_tls_and_cache(tmp_path):
    site = rendered(tmp_path)
    assert directive(site, "listen") == ["127.0.0.1:8081", "127.0.0.1:8080"]
    assert "ssl" not in site.replace("# ", "")  # (comments aside)
    assert directive(site, "server") == [
        "127.0.0.1:9001 max_fails=1 fail_timeout=5s",
        "127.0.0.1:9002 max_fails=1 fail_timeout=5s",
    ]
    assert directive(site, "proxy_cache_path")[0].startswith(str(tmp_path / "cache"))
    changed = ("listen", "ssl_", "server 127.", "proxy_cache_path")
    for line in SITE.read_text().splitlines():
        if not line.strip().startswith(changed):
            assert line in site.splitlines()


def test_the_site_refuses_metrics_and_bounds_webhook_bodies_as_the_app_does():
    site = SITE.read_text()
    assert re.search(r"location = /metrics \{\s*return 404;\s*\}", site)
    webhook = re.search(r"location = /webhooks/whop \{([^}]*)\}", site)[1]
    assert directive(webhook, "client_max_body_size") == [f"{MAX_BODY_BYTES // 1024}k"]
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in site


def test_nginx_lets_go_of_idle_upstream_connections_before_the_app_does():
    upstream = re.search(r"upstream linkmint \{([^}]*)\}", SITE.read_text())[1]
    [timeout] = directive(upstream, "keepalive_timeout")
    assert float(timeout.removesuffix("s")) < DEFAULTS["http_keep_alive_timeout"]


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_nginx_accepts_the_site_as_shipped_and_as_the_harness_runs_it(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=linkmint.example.com", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    shipped = (
        SITE.read_text()
        .replace("/etc/letsencrypt/live/linkmint.example.com/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/linkmint.example.com/privkey.pem", str(key))
        .replace("/var/cache/nginx/linkmint", str(tmp_path / "cache"))
    )
    for name, site in (("shipped", shipped), ("harness", rendered(tmp_path))):
        prefix = tmp_path / name
        prefix.mkdir()
        conf = nginx_conf(prefix, 8080, 8081, [9001, 9002])  # writes the harness's site
        if name == "shipped":
            (prefix / "linkmint.conf").write_text(site)
        (prefix / "nginx.conf").write_text(conf)
        tested = subprocess.run(
            [NGINX, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
            capture_output=True, text=True,
        )  # fmt: skip
        assert tested.returncode == 0, f"{name}: {tested.stderr}"
        assert "[warn]" not in tested.stderr, f"{name}: {tested.stderr}"


def test_the_unit_runs_linkmint_serve_on_its_instance_port(monkeypatch):
    unit = Unit.read()
    assert unit.exec_start[0].endswith("/linkmint")  # the package's console script
    served = []
    monkeypatch.setattr(cli, "serve", lambda *args: served.append(args))
    cli.main([arg.replace("%i", "8001") for arg in unit.exec_start[1:]])
    assert served == [("127.0.0.1", 8001, 1)]
    assert unit.command(8001)[:3] == [sys.executable, "-m", "app.cli"]


def test_the_unit_gives_a_stopping_process_the_time_it_takes_to_drain():
    unit = Unit.read()
    inbox_grace = inspect.signature(InboxWorkers.lifespan).parameters["grace"].default
    assert unit.kill_signal == signal.SIGTERM
    assert unit.timeout_stop >= GRACEFUL_SHUTDOWN_SECONDS + inbox_grace + 3
    # The signal to `linkmint serve` alone, which stops its workers after shutting its port.
    assert re.search(r"^KillMode=mixed$", UNIT.read_text(), re.MULTILINE)


def test_the_inbox_unit_runs_linkmint_inbox_and_lets_it_finish_its_batches(monkeypatch):
    from app.payments import inbox_process

    unit = Unit.read(INBOX_UNIT)
    assert unit.exec_start[0] == Unit.read().exec_start[0]  # the same console script
    started = []
    monkeypatch.setattr(
        inbox_process,
        "main",
        lambda settings, workers: started.append((workers, settings.inbox_whop_reads)),
    )
    cli.main(list(unit.exec_start[1:]))
    assert started == [(2, 16)]
    inbox_grace = inspect.signature(InboxWorkers.lifespan).parameters["grace"].default
    assert unit.kill_signal == signal.SIGTERM
    assert unit.timeout_stop >= inbox_grace + 3
    assert "EnvironmentFile=/etc/linkmint/linkmint.env" in INBOX_UNIT.read_text()


def test_the_example_environment_file_sets_only_settings_linkmint_reads(tmp_path):
    lines = [line for line in ENV_FILE.read_text().splitlines() if line and line[0] != "#"]
    values = dict(line.split("=", 1) for line in lines)
    assert set(values) <= set(KNOWN_NAMES)
    unit = UNIT.read_text()
    assert "EnvironmentFile=/etc/linkmint/linkmint.env" in unit
    tuning = {k: v for k, v in values.items() if k.startswith(("HTTP_", "TRUSTED_"))}
    settings = settings_from({**tuning, "VAR_DIR": str(tmp_path)})
    for name in ("trusted_proxies", "http_header_timeout", "http_concurrency_limit"):
        assert getattr(settings, name) == DEFAULTS[name]  # the defaults, written out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize(
    ("unit", "name"), [(UNIT, "linkmint@8001.service"), (INBOX_UNIT, INBOX_UNIT.name)]
)
def test_systemd_accepts_the_unit(tmp_path, unit, name):
    linkmint = Path(sys.executable).parent / "linkmint"
    if not linkmint.exists():
        pytest.skip("the linkmint console script is not installed in this environment")
    instance = tmp_path / name
    instance.write_text(unit.read_text().replace(Unit.read(unit).exec_start[0], str(linkmint)))
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(instance)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr


def test_the_harness_runs_pgbouncer_as_shipped_on_loopback_changing_only_where(tmp_path):
    from bench.deployment import PGBOUNCER, render_pgbouncer

    shipped = PGBOUNCER.read_text()
    ini = render_pgbouncer(
        shipped, server=("127.0.0.1", 5432), listen_port=7432, directory=tmp_path, trust=True
    )
    lines = ini.splitlines()
    assert "listen_addr = 127.0.0.1" in lines and "listen_port = 7432" in lines
    assert "* = host=127.0.0.1 port=5432" in lines and "pidfile" not in ini
    pooling = ("pool_mode", "max_client_conn", "default_pool_size", "reserve_pool_size")
    kept = [line for line in shipped.splitlines() if line.startswith(pooling)]
    assert "pool_mode = transaction" in kept and len(kept) == len(pooling)
    assert all(line in lines for line in kept)
    # What the shipped file tells the app to set is what the app needs behind it.
    settings = settings_from(
        {
            "VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://linkmint@127.0.0.1:6432/linkmint",
            "DATABASE_POOLER": "pgbouncer",
            "DATABASE_DIRECT_URL": "postgresql://linkmint@127.0.0.1:5432/linkmint",
        }
    )
    assert settings.database_pooler == "pgbouncer"
    for name in ("DATABASE_URL", "DATABASE_POOLER", "DATABASE_DIRECT_URL"):
        assert f"{name}=" in shipped
