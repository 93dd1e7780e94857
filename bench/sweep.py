"""`make bench-sweep`: the Whop calls the reconciler's sweep and the daily money audit make for
1,000 selling creators and 100,000 unlocks, and how long they take. See BENCHMARKS.md.

The app is built with `create_app` and its emulated Whop answers in this process, through
`InProcessTransport`, as `whop_lifespan` wires it when the emulator is mounted; an httpx
event hook counts every request the WhopClient makes. No background task runs: each step
calls the sweep or the audit itself. Measured, in order, on one data set (bench/sales.py):

1. the first sweep, every company's window the whole refund window, no call budget;
2. the steady state: every company last swept one interval ago, and since then new paid
   payments, refunds and second charges at Whop whose webhooks were lost — then checks that
   every one of them was converged;
3. the same steady state at the default budget per pass, a minute of virtual time between
   passes (`swept_to` moved back): passes until every company is read, and how often each
   one is read after that;
4. the audit of yesterday (UTC), unpaced;
5. the approach before the sweep, one list call per PENDING or recently FAILED unlock per
   pass, counted from the data set.

  --creators (1000)   --unlocks (100000)   --passes (10)   --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # piccolo_conf.py lives at the repository root
    sys.path.insert(0, str(ROOT))

from bench.run import BENCHMARKS_MD, CREDENTIALS, RESULTS  # noqa: E402

DATABASE = "linkmint_bench_sweep"
SEED = 7
APP_URL = "http://127.0.0.1:8000"  # nobody listens there: the emulator answers in-process
UNLIMITED = 1_000_000_000
WHOP_LIMIT_PER_MINUTE = 600  # documented, per operation and API key
TRICKLE = {"paid": 200, "refunds": 20, "second_charges": 5}
# What the reconciler did before the sweep: each PENDING unlock older than this, and each
# FAILED one younger than an hour, was one list call per pass.
OLD_ASKED_AFTER = timedelta(minutes=3)
OLD_FAILED_WITHIN = timedelta(hours=1)
_IDS = re.compile(r"/(?:pay|biz|ch|plan|rf|user|poact)_[A-Za-z0-9]+")

T = TypeVar("T")


def operation(method: str, path: str) -> str:
    """`GET /payments`, `POST /payments/{id}/refund`: a request as Whop meters it."""
    path = path.partition("/api/v1")[2] or path
    return f"{method} {_IDS.sub('/{id}', path)}"


class CallCounter:
    """httpx event hooks: the requests made, by operation, and the time spent waiting."""

    def __init__(self) -> None:
        self.made: Counter[str] = Counter()
        self.waited = 0.0
        self._started: dict[int, float] = {}

    async def on_request(self, request: httpx.Request) -> None:
        self.made[operation(request.method, request.url.path)] += 1
        self._started[id(request)] = time.perf_counter()

    async def on_response(self, response: httpx.Response) -> None:
        started = self._started.pop(id(response.request), None)
        if started is not None:
            self.waited += time.perf_counter() - started

    async def measure(self, work: Awaitable[T]) -> tuple[T, dict[str, Any]]:
        """Await `work`; its result, and the calls it made and how long it took."""
        self.made.clear()
        self.waited = 0.0
        started = time.perf_counter()
        result = await work
        wall = time.perf_counter() - started
        return result, {
            "calls": sum(self.made.values()),
            "by_operation": dict(sorted(self.made.items())),
            "wall_s": round(wall, 2),
            "in_whop_s": round(self.waited, 2),
        }


def coverage(reads: Mapping[str, Sequence[int]], companies: int, period_s: float) -> dict:
    """From the passes in which each company was read (0, 1, …): how many passes it took
    until every company had been read, and the time between two reads of one company."""
    firsts = [passes[0] for passes in reads.values() if passes]
    intervals = [
        (later - earlier) * period_s
        for passes in reads.values()
        for earlier, later in zip(passes, passes[1:], strict=False)
    ]
    return {
        "passes_to_read_all": max(firsts) + 1 if len(firsts) == companies else None,
        "interval_min_s": min(intervals, default=None),
        "interval_max_s": max(intervals, default=None),
    }


def paced_seconds(calls: int, per_minute: int, unpaced_s: float) -> float:
    """How long the audit's pacer makes `calls` last: one every 60/`per_minute` seconds,
    or the unpaced time when the calls themselves are slower than that."""
    if calls <= 0:
        return 0.0
    return round(max(unpaced_s, (calls - 1) * 60 / per_minute), 1)


# --- the steps ---------------------------------------------------------------------------------


def _sweep(whop, options, calls: int):
    from app.payments.sweep import sweep

    return sweep(whop, calls=calls, every=options.every, refund_window=options.refund_window)


def _our_side_ms(figures: Mapping[str, Any]) -> float:
    """Milliseconds per call spent outside Whop: our queries, parsing, matching."""
    calls = figures["calls"] or 1
    return round((figures["wall_s"] - figures["in_whop_s"]) * 1000 / calls, 2)


async def first_sweep(whop, counter: CallCounter, options) -> dict:
    report, figures = await counter.measure(_sweep(whop, options, UNLIMITED))
    return {
        **figures,
        "companies": report.companies,
        "finished": report.finished,
        "payments": report.payments,
        "in_step": report.in_step,
        "changed": dict(report.results),
        "errors": report.errors,
        "our_side_ms_per_call": _our_side_ms(figures),
        "passes_at_budget": math.ceil(report.calls / options.calls),
    }


async def steady_state(conn, whop, counter: CallCounter, options, data, rng) -> dict:
    """Every company last swept one interval ago; since then, the trickle at Whop."""
    from bench.sales import trickle, write_changes

    await conn.execute("UPDATE whop_sweep SET swept_to = now() - $1::interval", options.every)
    changes = trickle(rng, data, now=datetime.now(UTC), within=options.every, **TRICKLE)
    await write_changes(conn, changes, app_url=APP_URL)
    report, figures = await counter.measure(_sweep(whop, options, UNLIMITED))
    return {
        **figures,
        "companies": report.companies,
        "payments": report.payments,
        "our_side_ms_per_call": _our_side_ms(figures),
        "changed": dict(report.results),
        "expected": dict(changes.expected()),
        "converged": await converged(conn, changes),
    }


async def converged(conn, changes) -> dict:
    """What the database and the emulated Whop say after the sweep, per kind of change."""
    paid = {s.unlock_id: s.payment.id for s in changes.paid}
    rows = await conn.fetch(
        "SELECT id, status, provider_payment_id FROM unlock WHERE id = ANY($1::text[])",
        [*paid, *(s.unlock_id for s in changes.refunded)],
    )
    completed = sum(
        r["status"] == "COMPLETED" and r["provider_payment_id"] == paid[r["id"]]
        for r in rows
        if r["id"] in paid
    )
    refunded = sum(r["status"] == "REFUNDED" for r in rows if r["id"] not in paid)
    seconds = [p.id for _, p in changes.second_charges]
    duplicates = await conn.fetchval(
        """
        SELECT count(*) FROM duplicate_payment d
          JOIN whop_emulator.payment p ON p.id = d.payment_id
         WHERE d.payment_id = ANY($1::text[]) AND d.refunded_at IS NOT NULL
           AND p.substatus = 'refunded'
        """,
        seconds,
    )
    return {
        "completed": f"{completed}/{len(paid)}",
        "refunded": f"{refunded}/{len(changes.refunded)}",
        "duplicates refunded": f"{duplicates}/{len(seconds)}",
        "all": (completed, refunded, duplicates)
        == (len(paid), len(changes.refunded), len(seconds)),
    }


async def budgeted(conn, whop, counter: CallCounter, options, passes: int, period_s: float):
    """Passes at the default budget, each followed by `period_s` of virtual time."""
    await conn.execute("UPDATE whop_sweep SET swept_to = now() - $1::interval", options.every)
    companies = await conn.fetchval("SELECT count(*) FROM whop_sweep")
    reads: dict[str, list[int]] = defaultdict(list)
    per_pass = []
    for n in range(passes):
        began = await conn.fetchval("SELECT clock_timestamp()")
        report, figures = await counter.measure(_sweep(whop, options, options.calls))
        for row in await conn.fetch(
            "SELECT company_id FROM whop_sweep WHERE updated_at >= $1", began
        ):
            reads[row["company_id"]].append(n)
        per_pass.append(
            {"calls": figures["calls"], "companies": report.companies, "wall_s": figures["wall_s"]}
        )
        await conn.execute(  # a period goes by
            "UPDATE whop_sweep SET swept_to = swept_to - $1::interval", timedelta(seconds=period_s)
        )
    calls = [p["calls"] for p in per_pass]
    return {
        "budget_per_pass": options.calls,
        "period_s": period_s,
        "passes": per_pass,
        "calls_per_pass_max": max(calls),
        "calls_per_minute_mean": round(sum(calls) / (passes * period_s / 60), 1),
        "pass_wall_s_max": max(p["wall_s"] for p in per_pass),
        **coverage(reads, companies, period_s),
    }


async def daily_audit(whop, counter: CallCounter, options) -> dict:
    from app.payments.audit import audit

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    report, figures = await counter.measure(
        audit(whop, today - timedelta(days=1), today, calls_per_minute=UNLIMITED)
    )
    return {
        **figures,
        "period": [report.start.isoformat(), report.end.isoformat()],
        "creators": len({b.creator for b in report.books.values()}),
        "whop_paid_cents": sum(b.whop_paid for b in report.books.values()),
        "differences": len(report.differences),
        "clean": report.clean,
        # The daily audit goes at half the reconciler's pace (app/payments/reconcile.py).
        "paced_s": paced_seconds(report.calls, options.calls_per_minute // 2, figures["wall_s"]),
    }


def old_approach(data, now: datetime) -> dict:
    """One list call per pass for each PENDING unlock older than a few minutes and each
    FAILED one younger than an hour (before the re-ask interval and the per-pass cap)."""
    pending = sum(
        s.status == "PENDING" and now - s.created_at > OLD_ASKED_AFTER for s in data.sales
    )
    failed = sum(
        s.status == "FAILED" and now - s.created_at < OLD_FAILED_WITHIN for s in data.sales
    )
    return {"pending": pending, "failed_last_hour": failed, "calls_per_pass": pending + failed}


# --- the run -----------------------------------------------------------------------------------


def environment(database_url: str, var_dir: Path) -> dict[str, str]:
    """The app's settings: the emulator mounted (no WHOP_API_BASE, even from a .env)."""
    return {
        **CREDENTIALS,
        "APP_URL": APP_URL,
        "DATABASE_URL": database_url,
        "DB_POOL_SIZE": "8",
        "VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
        "WHOP_API_BASE": "",
        "WHOP_OAUTH_BASE": "",
    }


async def seed(
    database_url: str,
    args: argparse.Namespace,
    rng: random.Random,
    now: datetime,
    window: timedelta,
):
    """The data set, written into the freshly migrated database; returns it."""
    import functools

    import asyncpg

    from app.shared.fees import MoneyRules
    from bench.sales import build_sales, write_sales

    conn = await asyncpg.connect(database_url)
    try:
        rules = MoneyRules.from_rows(
            await conn.fetchrow("SELECT * FROM platform_config WHERE id = 1"),
            await conn.fetch("SELECT * FROM currency_rule"),
        )
        fee_for = functools.partial(rules.fee_for, currency="usd")  # the dataset's currency
        data = build_sales(
            rng,
            creators=args.creators,
            unlocks=args.unlocks,
            now=now,
            window=window,
            fee_for=fee_for,
        )
        parent = CREDENTIALS["WHOP_PARENT_COMPANY_ID"]
        await write_sales(conn, data, parent_company_id=parent, app_url=APP_URL)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return data


async def measure(args: argparse.Namespace, database_url: str) -> dict:
    import asyncpg
    from piccolo.engine import engine_finder

    from app.config import load_settings
    from app.emulator.platform import bootstrap
    from app.main import create_app
    from app.payments.reconcile import SweepOptions
    from app.whop.client import InProcessTransport, WhopClient
    from bench import database

    settings = load_settings()
    # The periodic pass earns calls_per_minute × the time since the last sweep; at one pass a
    # minute, that is calls_per_minute a pass.
    options = dataclasses.replace(
        SweepOptions.from_settings(settings), calls=settings.whop_list_calls_per_minute
    )
    rng = random.Random(SEED)  # noqa: S311 - a reproducible data set, not a secret
    print(f"bench-sweep: database {database.database_name(database_url)} (recreated), seeding …")
    started = time.monotonic()
    postgres = await database.recreate(database_url)
    await database.migrate()
    now = datetime.now(UTC)
    window = timedelta(days=settings.whop_refund_window_days)
    data = await seed(database_url, args, rng, now, window)
    print(f"bench-sweep: seeded {len(data.sales):,} unlocks in {time.monotonic() - started:.0f} s")
    results = describe(settings, options, data, postgres)

    engine = engine_finder()
    await engine.start_connection_pool(min_size=1, max_size=settings.db_pool_size)
    app = create_app(settings, caches=False)
    await bootstrap(settings)  # the platform's API key, as the emulator's start-up makes it
    counter = CallCounter()
    whop = WhopClient.connect(settings, transport=InProcessTransport(app))
    whop._http.event_hooks = {"request": [counter.on_request], "response": [counter.on_response]}
    conn = await asyncpg.connect(database_url)
    try:
        print("bench-sweep: 1. the first sweep …", flush=True)
        results["first_sweep"] = await first_sweep(whop, counter, options)
        print("bench-sweep: 2. the steady state …", flush=True)
        results["steady"] = await steady_state(conn, whop, counter, options, data, rng)
        print(f"bench-sweep: 3. {args.passes} passes at the default budget …", flush=True)
        results["budgeted"] = await budgeted(
            conn, whop, counter, options, args.passes, float(settings.maintenance_seconds)
        )
        print("bench-sweep: 4. the daily audit …", flush=True)
        results["audit"] = await daily_audit(whop, counter, options)
        results["old_approach"] = old_approach(data, now)
    finally:
        await conn.close()
        await whop.aclose()
        await engine.close_connection_pool()
    return results


def describe(settings, options, data, postgres: str) -> dict:
    """Where and on what the figures were measured."""
    from bench.machine import machine, package_version

    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "versions": {
            "Python": sys.version.split()[0],
            **{n: package_version(n.lower()) for n in ("Litestar", "Piccolo", "asyncpg", "httpx")},
            "PostgreSQL": postgres,
        },
        "settings": {
            "page_size": settings.whop_page_size,
            "calls_per_pass": options.calls,
            "calls_per_minute": settings.whop_list_calls_per_minute,
            "sweep_every_s": options.every.total_seconds(),
            "refund_window_days": settings.whop_refund_window_days,
            "period_s": settings.maintenance_seconds,
        },
        "dataset": {
            "creators": len(data.sellers),
            "unlocks": data.counts(),
            "payments": sum(s.payment is not None for s in data.sales),
            "trickle": TRICKLE,
        },
    }


# --- the report --------------------------------------------------------------------------------


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


SHORT = {
    "GET /payments": "list",
    "GET /payments/{id}": "retrieve",
    "POST /payments/{id}/refund": "refund",
}


def _calls(by_operation: Mapping[str, int]) -> str:
    return " + ".join(f"{n:,} {SHORT.get(op, op)}" for op, n in by_operation.items())


def rows(results: Mapping[str, Any]) -> list[list[str]]:
    first, steady, paced = results["first_sweep"], results["steady"], results["budgeted"]
    audit, old, s = results["audit"], results["old_approach"], results["settings"]
    budget = s["calls_per_pass"]
    in_step = "all in step" if not first["changed"] else f"CHANGED {first['changed']}"
    converged = ", ".join(f"{k} {v}" for k, v in steady["converged"].items() if k != "all")
    return [
        [
            "1. first sweep, no budget",
            _n(first["calls"]),
            _n(first["payments"]),
            f"{first['wall_s']:.1f}",
            f"{first['companies']:,} companies, {first['calls'] - first['companies']:,} of "
            f"them a second page; {in_step}; at {budget} calls/pass: "
            f"{first['passes_at_budget']} passes",
        ],
        [
            "2. steady state, no budget",
            _n(steady["calls"]),
            _n(steady["payments"]),
            f"{steady['wall_s']:.1f}",
            f"{_calls(steady['by_operation'])}; converged: {converged}",
        ],
        [
            f"3. steady state, {budget} calls/pass",
            f"≤ {paced['calls_per_pass_max']:,}/pass",
            "—",
            f"≤ {paced['pass_wall_s_max']:.1f}/pass",
            f"every company read after {paced['passes_to_read_all']} passes, then each one every "
            f"{_interval(paced)}; {paced['calls_per_minute_mean']:g} calls/min on average "
            f"(Whop allows {WHOP_LIMIT_PER_MINUTE})",
        ],
        [
            "4. daily audit, one day, unpaced",
            _n(audit["calls"]),
            "—",
            f"{audit['wall_s']:.1f}",
            f"{_calls(audit['by_operation'])}; {audit['creators']:,} creators sold that day, "
            f"{audit['differences']} differences; at {s['calls_per_minute'] // 2}/min: "
            f"{audit['paced_s'] / 60:.1f} min",
        ],
        [
            "5. before the sweep, per pass",
            _n(old["calls_per_pass"]),
            "—",
            "—",
            f"{old['pending']} PENDING + {old['failed_last_hour']} FAILED in the last hour; "
            "blind to refunds and second charges",
        ],
    ]


def _interval(paced: Mapping[str, Any]) -> str:
    low, high = paced["interval_min_s"], paced["interval_max_s"]
    if low is None:
        return "— (no company read twice)"
    return f"{low:g} s" if low == high else f"{low:g}–{high:g} s"


HEADER = ["Measurement", "Whop calls", "payments read", "wall s", "figures"]


def console_table(results: Mapping[str, Any]) -> str:
    table = [HEADER, *rows(results)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(widths[i]) for i, c in enumerate(r[:-1])), r[-1]]) for r in table
    )


def markdown_section(results: Mapping[str, Any]) -> str:
    m, d = results["machine"], results["dataset"]
    lines = [
        f"- Run {results['when']} · {m['cpu']} · {m['cores']} cores · "
        + ", ".join(f"{k} {v}" for k, v in results["versions"].items()),
        f"- {d['creators']:,} creators, each with a connected company and one premium link; "
        + ", ".join(f"{n:,} {status}" for status, n in d["unlocks"].items())
        + f" unlocks over {results['settings']['refund_window_days']} days; "
        f"{d['payments']:,} payments at the emulated Whop.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
        *("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows(results)),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--creators", type=int, default=1000)
    p.add_argument("--unlocks", type=int, default=100_000)
    p.add_argument("--passes", type=int, default=10, help="passes at the default budget")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    if min(args.creators, args.unlocks, args.passes) < 1:
        p.error("creators, unlocks and passes must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    from dotenv import dotenv_values

    from bench import database, report

    args = parse_args(argv)
    server = database.choose_url(os.environ, dotenv_values(ROOT / ".env"))
    database_url = database.with_database(server, DATABASE)
    with tempfile.TemporaryDirectory(prefix="linkmint-bench-sweep-") as var_dir:
        os.environ.update(environment(database_url, Path(var_dir)))
        results = asyncio.run(measure(args, database_url))
    print()
    print(console_table(results))
    agree = (
        not results["first_sweep"]["changed"]
        and results["steady"]["converged"]["all"]
        and results["audit"]["clean"]
    )
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"sweep-{results['when'].replace(':', '-')}.json"
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        document = report.replace_section(
            BENCHMARKS_MD.read_text(), markdown_section(results), "sweep"
        )
        BENCHMARKS_MD.write_text(document)
        print(f"\nbench-sweep: wrote {out.relative_to(ROOT)} and BENCHMARKS.md")
    if not agree:
        print("bench-sweep: FAILED — Whop's records and ours disagree (above)", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
