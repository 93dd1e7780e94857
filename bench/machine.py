"""What the figures were measured on: the machine and the versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib(meminfo: str) -> float:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def os_name() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def machine() -> dict:
    return {
        "cpu": cpu_model(_read("/proc/cpuinfo")),
        "cores": os.cpu_count() or 1,
        "memory_gib": round(memory_gib(_read("/proc/meminfo")), 1),
        "os": os_name(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions(*, postgres: str, wrk: str, server: str) -> dict:
    return {
        "Python": platform.python_version(),
        "Litestar": package_version("litestar"),
        "Piccolo": package_version("piccolo"),
        "asyncpg": package_version("asyncpg"),
        "Jinja2": package_version("jinja2"),
        "PostgreSQL": postgres,
        "wrk": wrk,
        server: package_version(server),
    }
