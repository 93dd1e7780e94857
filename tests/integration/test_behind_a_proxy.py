"""`linkmint serve` behind a proxy: the client's address comes from X-Forwarded-For only when
the peer is one of TRUSTED_PROXIES, and it is that address that rate limits count and that
/metrics must find on this host. The tests' own connections come from 127.0.0.1: a proxy on
this host, trusted by default, and untrusted once TRUSTED_PROXIES names other addresses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.web.limits import LOGIN
from tests.support.servers import linkmint_serve

REMOTE = "203.0.113.7"  # (TEST-NET-3: documentation addresses)
OTHER_REMOTE = "198.51.100.23"
PER_MINUTE = LOGIN.hits  # in one window of LOGIN.seconds


@pytest.fixture(scope="module")
def behind_nginx() -> Iterator[str]:
    """A process whose peer, 127.0.0.1, is a trusted proxy (the default)."""
    with linkmint_serve("behind-a-proxy") as server:
        yield server.url


@pytest.fixture(scope="module")
def exposed() -> Iterator[str]:
    """A process that trusts proxies elsewhere only: its 127.0.0.1 peer is a client."""
    with linkmint_serve("exposed", env={"TRUSTED_PROXIES": "10.0.0.0/8"}) as server:
        yield server.url


def metrics(base: str, **headers: str) -> int:
    """/metrics' status, asked with `headers` (x_forwarded_for: X-Forwarded-For)."""
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    return httpx.get(f"{base}/metrics", headers=sent).status_code


def sign_in_pages(base: str, times: int, forwarded_for: str | list[str]) -> list[int]:
    """GET /auth/login `times` times (rate limited), each forwarded for the next address."""
    addresses = [forwarded_for] * times if isinstance(forwarded_for, str) else forwarded_for
    with httpx.Client(base_url=base) as client:
        return [
            client.get("/auth/login", headers={"x-forwarded-for": address}).status_code
            for address in addresses[:times]
        ]


def test_metrics_are_refused_to_a_remote_client_a_trusted_proxy_forwards(behind_nginx):
    assert metrics(behind_nginx) == 200  # a scraper on this host, asking directly
    assert metrics(behind_nginx, x_forwarded_for=REMOTE) == 404
    # The client's own header comes first; the proxy appends the address it saw.
    assert metrics(behind_nginx, x_forwarded_for=f"127.0.0.1, {REMOTE}") == 404
    assert metrics(behind_nginx, x_forwarded_for="127.0.0.1") == 200  # the host, proxied
    # A proxy naming the client in RFC 7239's header only, which nothing reads.
    assert metrics(behind_nginx, forwarded="for=127.0.0.1") == 404


def test_the_rate_limit_counts_each_forwarded_client_on_its_own(behind_nginx):
    answers = sign_in_pages(behind_nginx, PER_MINUTE + 1, REMOTE)
    assert answers[:PER_MINUTE] == [303] * PER_MINUTE and answers[-1] == 429
    assert sign_in_pages(behind_nginx, 1, OTHER_REMOTE) == [303]


def test_an_untrusted_peers_forwarded_for_is_ignored(exposed):
    assert metrics(exposed, x_forwarded_for=REMOTE) == 200  # the peer itself is this host
    addresses = [f"203.0.113.{n}" for n in range(1, PER_MINUTE + 2)]
    answers = sign_in_pages(exposed, PER_MINUTE + 1, addresses)  # all counted as 127.0.0.1
    assert answers[:PER_MINUTE] == [303] * PER_MINUTE and answers[-1] == 429
