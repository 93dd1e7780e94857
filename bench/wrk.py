"""Driving wrk: request files for `lua/requests.lua`, the command, and its figures."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "requests.lua"
UNIT_SEPARATOR = "\x1f"
INSTALL_HINT = "wrk is not installed; on Debian/Ubuntu: sudo apt-get install -y wrk"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""


def request_line(req: Request) -> str:
    """One line of a request file (see lua/requests.lua for the format)."""
    parts = [req.method, req.path, *req.headers.keys(), *req.headers.values(), req.body]
    for part in parts:
        if any(ch in part for ch in "\t\r\n" + UNIT_SEPARATOR):
            raise ValueError(f"a request field contains a tab, newline or \\x1f: {part[:60]!r}")
    headers = UNIT_SEPARATOR.join(f"{name}: {value}" for name, value in req.headers.items())
    return f"{req.method}\t{req.path}\t{headers}\t{req.body}"


def write_requests(path: Path, requests: Iterable[Request]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for req in requests:
            out.write(request_line(req) + "\n")
            count += 1
    if count == 0:
        raise ValueError(f"no requests to write to {path}")
    return count


@dataclass(frozen=True, slots=True)
class Figures:
    """What one wrk run measured."""

    requests: int
    seconds: float
    errors: dict[str, int]  # connect/read/write/timeout, and status (responses ≥ 400)
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    sent_per_thread: tuple[int, ...]
    wrapped: int  # sequential files: times a thread ran out of lines and started again
    bytes: int = 0  # received: response heads and bodies, as on the wire

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def bytes_per_request(self) -> float:
        return self.bytes / self.requests if self.requests else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "mean_ms": self.mean_ms,
            "errors": self.errors,
            "sent_per_thread": list(self.sent_per_thread),
            "wrapped": self.wrapped,
            "bytes": self.bytes,
            "bytes_per_request": round(self.bytes_per_request),
        }


def parse_figures(text: str) -> Figures:
    """The JSON that lua/requests.lua's done() writes, in milliseconds and seconds."""
    raw = json.loads(text)
    lat = raw["latency_us"]

    def ms(value: float) -> float:
        return round(value / 1000, 3)

    return Figures(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1_000_000,
        errors={k: int(v) for k, v in raw["errors"].items()},
        p50_ms=ms(lat["p50"]),
        p90_ms=ms(lat["p90"]),
        p99_ms=ms(lat["p99"]),
        max_ms=ms(lat["max"]),
        mean_ms=ms(lat["mean"]),
        sent_per_thread=tuple(int(n) for n in raw["sent_per_thread"]),
        wrapped=int(raw.get("wrapped", 0)),
        bytes=int(raw.get("bytes", 0)),
    )


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    exe = wrk_path()
    if exe is None:
        return "not installed"
    done = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    first = (done.stdout or done.stderr).strip().splitlines()
    # "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer" -> "debian/4.1.0-3+b2"
    words = first[0].split(" Copyright")[0].split() if first else []
    return words[1] if len(words) > 1 else "unknown"


def run_wrk(
    base_url: str,
    requests_file: Path,
    out_file: Path,
    *,
    threads: int,
    connections: int,
    seconds: float,
    pick: str = "random",
    cpus: str | None = None,
    script: Path = LUA_SCRIPT,
    script_env: Mapping[str, str] | None = None,
) -> Figures:
    """Run wrk once against `base_url` with the requests in `requests_file` (or, with
    another `script`, whatever that script sends, told by `script_env`)."""
    if pick not in ("random", "sequential"):
        raise ValueError(f"pick must be random or sequential, not {pick!r}")
    exe = wrk_path()
    if exe is None:
        raise RuntimeError(INSTALL_HINT)
    out_file.unlink(missing_ok=True)
    env = {
        **os.environ,
        "BENCH_REQUESTS": str(requests_file),
        "BENCH_PICK": pick,
        "BENCH_THREADS": str(threads),
        "BENCH_OUT": str(out_file),
        **(script_env or {}),
    }
    cmd = [
        *(["taskset", "-c", cpus] if cpus else []),
        exe,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        base_url,
    ]
    proc = subprocess.Popen(  # noqa: S603
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=seconds + 60)
    except BaseException:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode != 0 or not out_file.exists():
        raise RuntimeError(f"wrk failed ({proc.returncode}): {stderr.strip() or stdout.strip()}")
    return parse_figures(out_file.read_text())
