"""`make bench-flashsale`: thousands of buyers unlocking one link within a minute, and the
webhook backlog behind them. See BENCHMARKS.md, "The flash sale".

Two measurements, on the bench's own servers (`bench/server.py`: the app under granian, the
Whop emulator in a server of its own, answering its API `--whop-latency-ms` late because
Whop is tens of milliseconds away):

1. **Backlog**: `--backlog` signed `payment.succeeded` deliveries (10 % redeliveries, as
   `bench/webhooks.py` builds them for `make bench`), sent as fast as `--connections` allow;
   events processed per second from the first delivery received to the last event
   processed, and the exactly-once check of `make bench`.
2. **The sale**: `--buyers` buyers arrive evenly over `--seconds` at one premium link. Each
   opens the premium card, presses Unlock (the app creates the checkout at the emulated
   Whop), pays (the paid payment is written into the emulated Whop's records, as its
   checkout writes one), is announced by Whop's signed webhook (5 % delivered twice), and
   polls its status every second, as the page does, until the link is revealed.
   Meanwhile wrk loads the public pages (the sale's creator's and others), compared with
   the same load before the sale and with the plain-text baseline.

Then: every paid unlock COMPLETED by its own payment, its event stored once and processed,
no second charge recorded, no refund at Whop, nothing left unprocessed in the inbox.

    .venv/bin/python -m bench.flashsale [--buyers 5000] [--seconds 60] [--backlog 5000]
        [--inbox-process 2] [--inbox-whop-reads 16] [--whop-rate-limit 0]

The webhook events are processed by `linkmint inbox` beside the app's workers, as a
deployment expecting a sale runs them; `--inbox-process 0` measures the default layout, in
which each app worker processes the events it stores.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import html
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # piccolo_conf.py lives at the repository root
    sys.path.insert(0, str(ROOT))

from app.whop.webhooks import sign_webhook  # noqa: E402
from bench import report, scenarios, webhooks  # noqa: E402
from bench.wrk import run_wrk, write_requests, wrk_path  # noqa: E402

SEED = 5000
FLASH_DATABASE = "linkmint_bench_flashsale"
POLL_EVERY = 1.0  # seconds, as the page's panel polls
REDELIVERED = 0.05  # the share of the sale's webhooks Whop delivers twice
RETRY_SCHEDULE = (10, 20, 40)  # seconds: Whop's retries of a delivery that failed
BUYERS_PER_ADDRESS = 20  # under the app's 30 unlocks a minute per client and link
PUBLIC_TARGETS = report.TARGETS["public"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.flashsale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--buyers", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=60, help="the buyers arrive over this")
    p.add_argument("--backlog", type=int, default=5000, help="events of the backlog run (0: none)")
    p.add_argument("--whop-latency-ms", type=int, default=30, help="the emulated Whop's delay")
    p.add_argument("--connections", type=int, default=32, help="wrk's, and the backlog's")
    p.add_argument("--creators", type=int, default=1000)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="app workers")
    p.add_argument("--page-seconds", type=float, default=5, help="each wrk run before the sale")
    p.add_argument(
        "--reveal-within", type=float, default=180, help="a buyer gives up polling after this"
    )
    p.add_argument(
        "--inbox-process",
        type=int,
        default=2,
        metavar="N",
        help="the app's workers process no events (INBOX_WORKERS=0) and `linkmint inbox "
        "--workers N` does, the layout README advises for a sale and "
        "deploy/systemd/linkmint-inbox.service runs (default 2; 0: each app worker "
        "processes what it stores)",
    )
    p.add_argument(
        "--inbox-whop-reads",
        type=int,
        default=16,
        metavar="N",
        help="`linkmint inbox --whop-reads N`, as the systemd unit passes (default 16)",
    )
    p.add_argument(
        "--whop-rate-limit",
        type=int,
        default=0,
        metavar="N",
        help="the emulated Whop answers 429 beyond N calls a minute per operation, as Whop "
        "documents 600 (0, the default: no limit)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = p.parse_args(argv)
    if min(args.buyers, args.seconds, args.connections, args.workers) < 1:
        p.error("buyers, seconds, connections and workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if wrk_path() is None:
        raise SystemExit("bench: wrk is not installed; on Debian: sudo apt-get install -y wrk")
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    workdir = Path(tempfile.mkdtemp(prefix="linkmint-flashsale-"))
    try:
        results = FlashSale(args, workdir).run()
    finally:
        if args.keep:
            print(f"bench: logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print("\n".join(summary_lines(results)))
    if not results["held"]:
        raise SystemExit(1)


class FlashSale:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(SEED)  # noqa: S311 - a reproducible data set, not a secret

    # --- set-up -----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from dotenv import dotenv_values

        from bench import database
        from bench.run import CREDENTIALS, _free_port
        from bench.server import BenchServer, app_and_whop, available_server

        args = self.args
        environ = dict(os.environ)
        if "BENCH_DATABASE_URL" not in environ:
            url = database.choose_url(environ, dotenv_values(ROOT / ".env"))
            environ["BENCH_DATABASE_URL"] = database.with_database(url, FLASH_DATABASE)
        self.database_url = environ["BENCH_DATABASE_URL"]
        port, whop_port = _free_port(), _free_port()
        whop_url = f"http://127.0.0.1:{whop_port}"
        common = {
            **CREDENTIALS,
            "DATABASE_URL": self.database_url,
            "DB_POOL_SIZE": "8",
            "VAR_DIR": str(self.workdir / "var"),
            "LOG_LEVEL": "WARNING",
        }
        app_env = {
            **common,
            "APP_URL": f"http://127.0.0.1:{port}",
            "WHOP_API_BASE": f"{whop_url}/_whop/api/v1",
            "WHOP_OAUTH_BASE": f"{whop_url}/_whop/oauth",
        }
        if args.inbox_process:
            app_env["INBOX_WORKERS"] = "0"  # each stored event is announced to the inbox
        whop_env = {
            **common,
            "APP_URL": whop_url,
            "WHOP_API_BASE": "",
            "WHOP_OAUTH_BASE": "",
            "WHOP_EMULATOR_LATENCY_MS": str(args.whop_latency_ms),
            "WHOP_EMULATOR_RATE_LIMIT": str(args.whop_rate_limit),
        }
        os.environ.update(app_env)

        from app.config import load_settings

        self.settings = load_settings()
        name = database.database_name(self.database_url)
        print(f"bench: database {name} (recreated), seeding …", flush=True)
        asyncio.run(database.recreate(self.database_url))
        asyncio.run(database.migrate())
        self.data, self.fee_for = asyncio.run(self._seed())
        kind = available_server("auto")
        self.server, whop = app_and_whop(
            kind, (port, whop_port), (args.workers, 1), whop_env, self.workdir, None
        )
        # `linkmint inbox`, beside the app (with its environment), when asked for.
        inbox = BenchServer(
            kind,
            0,
            1,
            dict(os.environ),
            self.workdir / "inbox.log",
            command=[
                sys.executable, "-m", "app.cli", "inbox", "--workers", str(args.inbox_process),
                *(["--whop-reads", str(args.inbox_whop_reads)] if args.inbox_whop_reads else []),
            ],
            ready_line="processing the webhook events announced",
        )  # fmt: skip
        results: dict[str, Any] = {
            "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "settings": {
                "server": kind,
                "workers": args.workers,
                "whop_latency_ms": args.whop_latency_ms,
                "whop_rate_limit": args.whop_rate_limit,
                "inbox_workers": self.settings.inbox_workers,
                "inbox_process_workers": args.inbox_process,
                "inbox_process_whop_reads": args.inbox_whop_reads,
                "inbox_batch": self.settings.inbox_batch,
                "inbox_whop_reads": self.settings.inbox_whop_reads,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
        }
        try:
            whop.start()
            self.server.start()
            if args.inbox_process:
                inbox.env["LOG_LEVEL"] = "INFO"  # (its ready line)
                inbox.start()
            results["baseline"] = self._wrk("baseline", scenarios.baseline(), args.page_seconds)
            page = scenarios.public(self.data)
            asyncio.run(self._visit_once(page))  # every page in the cache, as after a while
            results["page_before"] = self._wrk("public", page, args.page_seconds)
            if args.backlog:
                print(f"bench: backlog of {args.backlog} events …", flush=True)
                results["backlog"] = asyncio.run(self._backlog())
                print(f"bench: backlog {results['backlog']}", flush=True)
            print(f"bench: the sale, {args.buyers} buyers over {args.seconds:g} s …", flush=True)
            results["sale"] = self._sale()
        except BaseException:
            print(f"bench: app server log:\n{self.server.log_tail()}", file=sys.stderr)
            print(f"bench: Whop emulator log:\n{whop.log_tail()}", file=sys.stderr)
            if args.inbox_process:
                print(f"bench: linkmint inbox log:\n{inbox.log_tail()}", file=sys.stderr)
            raise
        finally:
            inbox.stop()
            self.server.stop()
            whop.stop()
        results["held"] = bool(
            results["sale"]["exactly_once"]
            and results.get("backlog", {"exactly_once": True})["exactly_once"]
        )
        return results

    async def _visit_once(self, page: scenarios.Scenario) -> None:
        async with Client(self.server.url, 8) as client:
            await asyncio.gather(
                *(client.request(r.method, r.path, dict(r.headers)) for r in page.requests)
            )

    async def _seed(self) -> tuple[Any, Any]:
        import asyncpg

        from app.shared.fees import MoneyRules
        from bench.dataset import build_dataset, write_dataset
        from bench.run import CREDENTIALS

        conn = await asyncpg.connect(self.database_url)
        try:
            rules = MoneyRules.from_rows(
                await conn.fetchrow("SELECT * FROM platform_config WHERE id = 1"),
                await conn.fetch("SELECT * FROM currency_rule"),
            )
            fee_for = functools.partial(rules.fee_for, currency="usd")
            data = build_dataset(
                self.rng,
                creators=self.args.creators,
                links_per_creator=12,
                completed_unlocks=0,
                pending_unlocks=0,
                fee_for=fee_for,
            )
            await write_dataset(
                conn, data, parent_company_id=CREDENTIALS["WHOP_PARENT_COMPANY_ID"], fee_for=fee_for
            )
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        return data, fee_for

    def _wrk(self, key: str, scenario: scenarios.Scenario, seconds: float) -> dict[str, Any]:
        path = self.workdir / f"{key}.requests"
        write_requests(path, scenario.requests)
        figures = run_wrk(
            self.server.url,
            path,
            self.workdir / f"{key}.out.json",
            threads=2,
            connections=self.args.connections,
            seconds=seconds,
            pick=scenario.pick,
        )
        return figures.as_dict()

    # --- 1. the backlog ---------------------------------------------------------------------

    async def _backlog(self) -> dict[str, Any]:
        pool = webhooks.build_pool(
            self.rng,
            self.data,
            events=self.args.backlog,
            duplicate_share=0.1,
            secret=self.settings.whop_webhook_secret,
            now=int(time.time()),
            fee_for=self.fee_for,
        )
        await webhooks.write_pool(self.database_url, pool)
        sent_at = time.monotonic()
        async with Client(self.server.url, self.args.connections) as client:
            await asyncio.gather(
                *(client.deliver(d) for d in pool.deliveries), return_exceptions=False
            )
        answered = time.monotonic() - sent_at
        ids = [d.webhook_id for d in pool.deliveries]
        settled_after = await self._settled(ids)
        checked = await self._check_pool(pool)
        checked.update(
            deliveries=len(pool.deliveries),
            answered_s=round(answered, 2),
            deliveries_per_s=round(len(pool.deliveries) / answered, 1),
            settled_after_s=settled_after,
        )
        return checked

    async def _settled(self, ids: list[str], limit: float = 600) -> float | None:
        """Seconds until every event in `ids` is processed (None: not within `limit`)."""
        import asyncpg

        started = time.monotonic()
        conn = await asyncpg.connect(self.database_url)
        try:
            while time.monotonic() - started < limit:
                left = await conn.fetchval(
                    "SELECT count(*) FROM webhook_event"
                    " WHERE id = ANY($1::text[]) AND processed_at IS NULL",
                    ids,
                )
                if not left:
                    return round(time.monotonic() - started, 1)
                await asyncio.sleep(0.2)
        finally:
            await conn.close()
        return None

    async def _check_pool(self, pool: webhooks.WebhookPool) -> dict[str, Any]:
        import asyncpg

        conn = await asyncpg.connect(self.database_url)
        try:
            ids = [d.webhook_id for d in pool.deliveries]
            rows = await conn.fetch(
                "SELECT id, processed_at IS NOT NULL AS done FROM webhook_event"
                " WHERE id = ANY($1::text[])",
                ids,
            )
            unlocks = await conn.fetch(
                "SELECT id, status, provider_payment_id FROM unlock WHERE id = ANY($1::text[])",
                [u.id for u in pool.unlocks],
            )
            refunds = await conn.fetchval(
                "SELECT count(*) FROM whop_emulator.refund WHERE payment_id = ANY($1::text[])",
                [row[0] for row in pool.payments],
            )
            window = await conn.fetchval(
                "SELECT extract(epoch FROM max(processed_at) - min(received_at))::float8"
                " FROM webhook_event WHERE id = ANY($1::text[])",
                ids,
            )
        finally:
            await conn.close()
        verdict = webhooks.judge(
            pool.unlocks,
            pool.deliveries,
            inbox={r["id"]: r["done"] for r in rows},
            unlocks={r["id"]: (r["status"], r["provider_payment_id"]) for r in unlocks},
            refunds=refunds,
            processing_window_s=window,
        )
        return {
            "events": verdict.events,
            "redeliveries": verdict.redeliveries,
            "exactly_once": verdict.exactly_once,
            "problems": list(verdict.problems),
            "processing_window_s": round(window or 0, 2),
            "events_per_s": round(verdict.processing_rate or 0, 1),
        }

    # --- 2. the sale ------------------------------------------------------------------------

    def _sale(self) -> dict[str, Any]:
        """wrk loads the public pages in a thread while the buyers come and go."""
        link = self._sale_link()
        args = self.args
        page = scenarios.public(self.data)
        seller = self.data.creator(link.creator_id)
        # Half the views are of the sale's own page: its buyers arrive through it.
        own = [r for r in page.requests if r.path == f"/{seller.handle}"]
        page.requests.extend(own * len(page.requests))
        during: dict[str, Any] = {}
        # wrk runs for the arrivals and a moment after, while the sale is at its busiest.
        wrk_seconds = args.seconds + 2
        loader = threading.Thread(
            target=lambda: during.update(self._wrk("public_during", page, wrk_seconds)),
            name="wrk-during-the-sale",
        )
        loader.start()
        try:
            sale = asyncio.run(Sale(self, link).run())
        finally:
            loader.join()
        sale["page_during"] = during
        return sale

    def _sale_link(self) -> Any:
        """The sale's link: a premium link of a creator who can be paid (the first)."""
        for link in self.data.premium_links():
            creator = self.data.creator(link.creator_id)
            if link.visible and creator.whop_company_id and creator.payout_enabled:
                return link
        raise LookupError("the data set has no premium link on sale; seed more creators")


@dataclass(slots=True)
class Buyer:
    """One buyer's way through the sale, with its times (monotonic seconds)."""

    n: int
    token: str
    unlock_id: str | None = None
    payment_id: str | None = None
    paid_at: float | None = None
    revealed_at: float | None = None
    polls: int = 0
    errors: list[str] = field(default_factory=list)


class Sale:
    def __init__(self, bench: FlashSale, link: Any) -> None:
        from app.payments.buyer import Buyer as BuyerCookie
        from app.payments.buyer import buyer_cookie_name, seal_buyer

        self.bench = bench
        self.link = link
        self.creator = bench.data.creator(link.creator_id)
        secret = bench.settings.secret_key
        self.cookies = scenarios.buyer_cookies(secret, bench.settings.secure_cookies)
        self.cookie_name = buyer_cookie_name(bench.settings.secure_cookies)
        self.seal = lambda token: seal_buyer(BuyerCookie(token=token), secret)
        self.rng = random.Random(SEED + 1)  # noqa: S311 - not a secret
        self.retried = 0  # deliveries Whop had to try again
        self.pressed_again = 0  # buyers' requests answered "try again in a moment"

    async def run(self) -> dict[str, Any]:
        import asyncpg

        from bench.dataset import make_token

        args = self.bench.args
        self.db = await asyncpg.create_pool(self.bench.database_url, min_size=2, max_size=8)
        buyers = [Buyer(n, make_token(self.rng)) for n in range(args.buyers)]
        groups = (args.buyers + BUYERS_PER_ADDRESS - 1) // BUYERS_PER_ADDRESS
        # Each group of buyers comes from its own address (127.0.0.0/8 is all loopback), as
        # buyers do: the app limits unlocks per client address.
        clients = [
            Client(self.bench.server.url, 4, local_address=f"127.{1 + g // 250}.{g % 250}.1")
            for g in range(groups)
        ]
        self.webhooks = Client(self.bench.server.url, 16)
        started = time.monotonic()
        try:
            async with asyncio.TaskGroup() as tasks:
                for buyer in buyers:
                    at = started + buyer.n * args.seconds / args.buyers
                    client = clients[buyer.n // BUYERS_PER_ADDRESS]
                    tasks.create_task(self._buyer(buyer, client, at))
        finally:
            for client in [*clients, self.webhooks]:
                await client.aclose()
        last_paid = max((b.paid_at for b in buyers if b.paid_at), default=started)
        event_ids = await self.db.fetch(
            "SELECT DISTINCT e.id FROM webhook_event e"
            " WHERE e.payload->'data'->>'id' = ANY($1::text[])",
            [b.payment_id for b in buyers if b.payment_id],
        )
        settled = await self.bench._settled([r["id"] for r in event_ids])
        settled_after = None if settled is None else round(time.monotonic() - last_paid, 1)
        checked = await self._check(buyers)
        await self.db.close()
        waits = sorted(b.revealed_at - b.paid_at for b in buyers if b.revealed_at and b.paid_at)
        return {
            "buyers": args.buyers,
            "arrivals_s": args.seconds,
            "paid": sum(1 for b in buyers if b.paid_at),
            "revealed": len(waits),
            "polls": sum(b.polls for b in buyers),
            "deliveries_retried": self.retried,
            "pressed_again": self.pressed_again,
            "errors": [e for b in buyers for e in b.errors][:10],
            "error_count": sum(len(b.errors) for b in buyers),
            "sale_s": round(last_paid - started, 1),
            "reveal_p50_s": _quantile(waits, 0.5),
            "reveal_p99_s": _quantile(waits, 0.99),
            "reveal_max_s": round(waits[-1], 2) if waits else None,
            "backlog_settled_after_s": settled_after,
            **checked,
        }

    async def _buyer(self, buyer: Buyer, client: Client, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        try:
            await self._buy(buyer, client)
        except Exception as exc:  # noqa: BLE001 - counted, and the checks then fail
            buyer.errors.append(f"buyer {buyer.n}: {type(exc).__name__}: {exc}")

    async def _buy(self, buyer: Buyer, client: Client) -> None:
        token = self.cookies.csrf.partition("=")[2]
        headers = {
            **scenarios.PERSON,
            "HX-Request": "true",
            "Cookie": f"{self.cookie_name}={self.seal(buyer.token)}; {self.cookies.csrf}",
        }
        card = await self._patiently(client, "GET", f"/u/{self.link.id}", headers)
        if card.status != 200:
            raise RuntimeError(f"the premium card answered {card.status}")
        pressed = await self._patiently(
            client,
            "POST",
            f"/u/{self.link.id}/unlock",
            {**headers, "X-CSRFToken": token, "Origin": self.bench.server.url},
        )
        purchase_url = pressed.headers.get("hx-redirect")
        if pressed.status != 200 or not purchase_url:
            raise RuntimeError(f"Unlock answered {pressed.status}: {pressed.body[:120]!r}")
        unlock = await self.db.fetchrow(
            "SELECT u.id, u.checkout_id, u.plan_id, u.price_cents, u.fee_cents, u.currency"
            " FROM unlock u WHERE u.purchase_url = $1",
            purchase_url,
        )
        buyer.unlock_id = unlock["id"]
        await self._pay(buyer, unlock)
        deadline = time.monotonic() + self.bench.args.reveal_within
        while time.monotonic() < deadline:  # the panel polls every second until the link shows
            await asyncio.sleep(POLL_EVERY)
            buyer.polls += 1
            answer = await client.request("GET", f"/unlocks/{buyer.unlock_id}/status", headers)
            if answer.status == 286 and html.escape(self.link.url).encode() in answer.body:
                buyer.revealed_at = time.monotonic()
                return
            if answer.status not in (200, 204, 503):  # (503: htmx polls on, as the page does)
                raise RuntimeError(f"the status poll answered {answer.status}")
        raise RuntimeError(f"the link was not shown within {self.bench.args.reveal_within:g} s")

    async def _patiently(
        self, client: Client, method: str, path: str, headers: dict[str, str]
    ) -> Answer:
        """A person's request: "try again in a moment" (503, 429) is tried again, a few
        times, as a person presses again: when the answer says how long to wait
        (`Retry-After`, and the message with it), after that long, else 2 s later."""
        for _ in range(5):
            answer = await client.request(method, path, headers)
            if answer.status not in (429, 503):
                return answer
            self.pressed_again += 1
            wait = answer.headers.get("retry-after", "")
            await asyncio.sleep(int(wait) if wait.isdigit() else 2)
        return answer

    async def _pay(self, buyer: Buyer, unlock: Any) -> None:
        """Whop's side of paying: its record of the paid payment, then its webhook."""
        from bench.webhooks import PAYMENT_COLUMNS, Sale, paid_payment, signed_delivery

        sale = Sale(
            unlock["id"],
            self.creator.whop_company_id or "",
            self.creator.display_name,
            unlock["plan_id"],
            unlock["checkout_id"],
            unlock["price_cents"],
            unlock["fee_cents"],
            unlock["currency"],
        )
        row = paid_payment(self.rng, sale, datetime.now(UTC))
        columns = ", ".join(PAYMENT_COLUMNS)
        values = ", ".join(f"${n}" for n in range(1, len(PAYMENT_COLUMNS) + 1))
        await self.db.execute(
            f"INSERT INTO whop_emulator.payment ({columns}) VALUES ({values})",  # noqa: S608
            *[row[name] for name in PAYMENT_COLUMNS],
        )
        buyer.payment_id = row["id"]
        buyer.paid_at = time.monotonic()
        secret = self.bench.settings.whop_webhook_secret
        delivery = signed_delivery(self.rng, sale, row, secret=secret, now=int(time.time()))
        twice = self.rng.random() < REDELIVERED  # Whop's retry, while the first is in flight
        await asyncio.gather(*(self._deliver(delivery) for _ in range(1 + twice)))

    async def _deliver(self, delivery: webhooks.Delivery) -> None:
        """Deliver as Whop does: an answer other than 2xx (or none) is tried again 10, 20 and
        40 s later, each attempt signed anew."""
        secret = self.bench.settings.whop_webhook_secret
        for wait in (*RETRY_SCHEDULE, None):
            try:
                await self.webhooks.deliver(delivery)
                return
            except (RuntimeError, OSError, asyncio.IncompleteReadError, ValueError):
                if wait is None:
                    raise
                self.retried += 1
            await asyncio.sleep(wait)
            now = int(time.time())
            signature = sign_webhook(secret, delivery.webhook_id, now, delivery.body.encode())
            delivery = replace(delivery, timestamp=now, signature=signature, redelivery=True)

    async def _check(self, buyers: list[Buyer]) -> dict[str, Any]:
        paid = {b.unlock_id: b.payment_id for b in buyers if b.payment_id}
        rows = await self.db.fetch(
            "SELECT id, status, provider_payment_id, completed_via FROM unlock"
            " WHERE link = $1 AND id = ANY($2::text[])",
            self.link.id,
            list(paid),
        )
        completed = [
            r
            for r in rows
            if r["status"] == "COMPLETED" and r["provider_payment_id"] == paid[r["id"]]
        ]
        events = await self.db.fetch(
            "SELECT payload->'data'->>'id' AS payment, count(*) AS n,"
            " count(*) FILTER (WHERE processed_at IS NULL) AS unprocessed"
            " FROM webhook_event WHERE payload->'data'->>'id' = ANY($1::text[])"
            " GROUP BY 1",
            list(paid.values()),
        )
        duplicates = await self.db.fetchval(
            "SELECT count(*) FROM duplicate_payment WHERE unlock = ANY($1::text[])", list(paid)
        )
        refunds = await self.db.fetchval(
            "SELECT count(*) FROM whop_emulator.refund WHERE payment_id = ANY($1::text[])",
            list(paid.values()),
        )
        unprocessed = await self.db.fetchval(
            "SELECT count(*) FROM webhook_event WHERE processed_at IS NULL"
        )
        problems = []
        if len(completed) != len(paid):
            problems.append(f"{len(paid) - len(completed)} paid unlocks not COMPLETED by it")
        if len(events) != len(paid) or any(e["n"] != 1 for e in events):
            problems.append("an event missing, or stored twice")
        if duplicates or refunds:
            problems.append(f"{duplicates} second charges recorded, {refunds} refunds at Whop")
        if unprocessed:
            problems.append(f"{unprocessed} events left unprocessed in the inbox")
        if stopped := sum(1 for b in buyers if b.errors and b.payment_id):
            problems.append(f"{stopped} buyers paid and did not see their link")
        return {
            # Refused before paying (Unlock answered 503 five times): nothing to complete.
            "turned_away": sum(1 for b in buyers if b.errors and not b.payment_id),
            "completed": len(completed),
            "by_webhook": sum(1 for r in completed if r["completed_via"] == "webhook"),
            "unprocessed": unprocessed,
            "exactly_once": not problems,
            "problems": problems,
        }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


# --- a small HTTP/1.1 client -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """Keep-alive HTTP/1.1 over a few connections to the app, on asyncio streams: httpx's
    pool costs a millisecond of CPU a request, which on two shared cores would be taken
    from the servers being measured."""

    def __init__(self, base_url: str, connections: int, local_address: str | None = None):
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.local_address = local_address
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = (
            asyncio.Queue()
        )
        for _ in range(connections):
            self._idle.put_nowait(None)  # a slot: connected on first use
        self._open: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for writer in self._open:
            writer.close()
        self._open.clear()

    async def deliver(self, delivery: webhooks.Delivery) -> None:
        answer = await self.request(
            "POST", webhooks.WEBHOOK_PATH, delivery.headers(), delivery.body.encode()
        )
        if answer.status != 200:
            raise RuntimeError(f"a delivery was answered {answer.status}: {answer.body[:120]!r}")

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> Answer:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        message = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        slot = await self._idle.get()
        try:
            while True:
                fresh = slot is None
                if slot is None:
                    local = (self.local_address, 0) if self.local_address else None
                    slot = await asyncio.open_connection(self.host, self.port, local_addr=local)
                    self._open.append(slot[1])
                reader, writer = slot
                writer.write(message)
                status_line = await reader.readline()
                if status_line or fresh:
                    break
                writer.close()  # the server closed a kept-alive connection: once more, anew
                slot = None
            answer = await _read_answer(reader, status_line)
            if answer.headers.get("connection", "").lower() == "close":
                writer.close()
                slot = None
            return answer
        except BaseException:
            if slot is not None:
                slot[1].close()
            slot = None
            raise
        finally:
            self._idle.put_nowait(slot)


async def _read_answer(reader: asyncio.StreamReader, status_line: bytes) -> Answer:
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size + 2))
        await reader.readline()  # the empty trailer
        return Answer(status, headers, b"".join(c[:-2] for c in chunks))
    length = int(headers.get("content-length", "0"))
    return Answer(status, headers, await reader.readexactly(length) if length else b"")


# --- the report ------------------------------------------------------------------------------


def _rate_limit(settings: dict[str, Any]) -> str:
    limit = settings.get("whop_rate_limit")
    return f", {limit} calls a minute per operation" if limit else ""


def _inbox(settings: dict[str, Any]) -> str:
    """Who processes the events, and within which bounds."""
    if settings.get("inbox_process_workers"):
        reads = settings.get("inbox_process_whop_reads") or settings["inbox_whop_reads"]
        return (
            f"`linkmint inbox` alone, {settings['inbox_process_workers']} batches of up to "
            f"{settings['inbox_batch']}, {reads} Whop reads in flight"
        )
    return (
        f"each app worker, {settings['inbox_workers']} batches of up to "
        f"{settings['inbox_batch']}, {settings['inbox_whop_reads']} Whop reads in flight per "
        "process"
    )


def summary_lines(results: dict[str, Any]) -> list[str]:
    s = results["settings"]
    lines = [
        f"Run {results['when']} · app: {s['server']} × {s['workers']} workers · Whop: the "
        f"emulator answering {s['whop_latency_ms']} ms late"
        f"{_rate_limit(s)} · inbox: {_inbox(s)} "
        f"· load average at start {s['load_average']}",
    ]
    base = results["baseline"]["rps"]
    before = results["page_before"]
    lines.append(
        f"Baseline (plain text) {base:,.0f} req/s; public page before the sale "
        f"{before['rps']:,.0f} req/s ({before['rps'] / base:.2f} × baseline), "
        f"p99 {before['p99_ms']} ms"
    )
    if backlog := results.get("backlog"):
        lines.append(
            f"Backlog: {backlog['deliveries']:,} deliveries ({backlog['events']:,} events) "
            f"answered in {backlog['answered_s']} s ({backlog['deliveries_per_s']:,.0f}/s); "
            f"processed {backlog['events_per_s']:,.0f} events/s end to end (first delivery "
            f"received to last event processed, {backlog['processing_window_s']} s); "
            f"exactly once: {'held' if backlog['exactly_once'] else 'FAILED'} "
            + "; ".join(backlog["problems"])
        )
    sale = results["sale"]
    during = sale["page_during"]
    ratio = during["rps"] / base if base else 0.0
    checks = report.evaluate({"ratio": ratio, "p99_ms": during["p99_ms"]}, PUBLIC_TARGETS)
    verdict = ", ".join(
        f"{c['target']}: {'PASS' if c['pass'] else 'MISS'} ({c['value']:.2f})" for c in checks
    )
    lines += [
        f"Sale: {sale['buyers']:,} buyers over {sale['arrivals_s']:g} s; {sale['paid']:,} paid, "
        f"{sale['completed']:,} COMPLETED by their payment ({sale['by_webhook']:,} by the "
        f"webhook), {sale['revealed']:,} saw the link; payment to link shown p50 "
        f"{sale['reveal_p50_s']} s, p99 {sale['reveal_p99_s']} s, max {sale['reveal_max_s']} s "
        f"({sale['polls']:,} polls; {sale['deliveries_retried']} deliveries and "
        f"{sale['pressed_again']} buyers' requests tried again; {sale['turned_away']} buyers "
        "turned away before paying); backlog done "
        f"{sale['backlog_settled_after_s']} s after the last payment; exactly once: "
        f"{'held' if sale['exactly_once'] else 'FAILED'} "
        + "; ".join(sale["problems"] + sale["errors"][:3]),
        f"Public page during the sale: {during['rps']:,.0f} req/s ({ratio:.2f} × baseline), "
        f"p99 {during['p99_ms']} ms, {sum(during['errors'].values())} errors — {verdict}",
    ]
    return lines


if __name__ == "__main__":
    main()
