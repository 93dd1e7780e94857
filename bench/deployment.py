"""The shipped deployment (deploy/), as the scale-out harness runs it on loopback.

`make bench-scaleout` tests what an operator installs, not a copy of it: nginx runs
deploy/nginx/linkmint.conf with only its ports, TLS and cache directory made local
(`render_site`), and the app processes are started with the systemd unit's own ExecStart and
stopped the way systemd stops them (`Unit`).
"""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "linkmint.conf"
UNIT = ROOT / "deploy" / "systemd" / "linkmint@.service"
PGBOUNCER = ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini"


def render_site(
    text: str,
    *,
    host: str,
    port: int,
    redirect_port: int,
    upstream_ports: list[int],
    cache: Path,
) -> str:
    """The site for loopback: its HTTPS server on host:port and its redirect on
    host:redirect_port, both plain HTTP (no certificate here, and no IPv6), one upstream
    server line per app process (with the shipped line's parameters), the static cache under
    `cache`. Every other line as shipped."""
    out: list[str] = []
    for line in text.splitlines():
        words = line.split()
        indent = line[: len(line) - len(line.lstrip())]
        directive = words[0] if words else ""
        if directive == "listen":
            if not words[1].startswith("["):
                to = redirect_port if words[1].rstrip(";") == "80" else port
                out.append(f"{indent}listen {host}:{to};")
        elif directive.startswith("ssl_"):
            continue
        elif directive == "server" and words[1] != "{":  # an upstream's server
            if upstream_ports:  # (in the first one's place, with its parameters)
                params = " ".join(words[2:])
                out.extend(f"{indent}server {host}:{p} {params}" for p in upstream_ports)
                upstream_ports = []
        elif directive == "proxy_cache_path":
            out.append(line.replace(words[1], str(cache), 1))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def render_pgbouncer(
    text: str, *, server: tuple[str, int], listen_port: int, directory: Path, trust: bool
) -> str:
    """PgBouncer's shipped configuration for loopback: every database name passed through
    to `server`, listening on 127.0.0.1:`listen_port` only (no Unix socket), its auth file,
    log and no pid file under `directory`; `trust`: no password. The pooling lines (pool
    mode and sizes) as shipped."""
    local = {
        "listen_addr": "127.0.0.1",
        "listen_port": str(listen_port),
        "unix_socket_dir": "",
        "auth_type": "trust" if trust else "plain",
        "auth_file": str(directory / "userlist.txt"),
        "logfile": str(directory / "pgbouncer.log"),
    }
    out: list[str] = []
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        key = stripped.partition("=")[0].strip()
        if stripped.startswith("["):
            section = stripped
            out.append(line)
            if section == "[databases]":
                out.append(f"* = host={server[0]} port={server[1]}")
        elif not stripped or stripped.startswith(";"):
            out.append(line)
        elif section == "[databases]" or key == "pidfile":
            continue
        elif key in local:
            out.append(f"{key} = {local.pop(key)}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


@dataclass(frozen=True, slots=True)
class Unit:
    """What the harness takes from the systemd unit: how a process starts and stops."""

    exec_start: tuple[str, ...]
    kill_signal: signal.Signals
    timeout_stop: float

    @classmethod
    def read(cls, path: Path = UNIT) -> Unit:
        service: dict[str, str] = {}
        section = None
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                service[key.strip()] = value.strip()
        return cls(
            exec_start=tuple(service["ExecStart"].split()),
            kill_signal=signal.Signals[service.get("KillSignal", "SIGTERM")],
            timeout_stop=float(service.get("TimeoutStopSec", "90").removesuffix("s")),
        )

    def command(self, port: int) -> list[str]:
        """ExecStart for the instance on `port`, run by this checkout's Python."""
        args = [arg.replace("%i", str(port)) for arg in self.exec_start[1:]]
        return [sys.executable, "-m", "app.cli", *args]
