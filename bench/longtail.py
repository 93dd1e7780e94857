"""The long tail (`make bench-longtail`, or `make bench BENCH_ARGS=--long-tail`): a million
creators × 12 links, and anonymous views drawn from a Zipf distribution over all of them.

The default run seeds a million creators (streamed COPY, indexes after, VACUUM ANALYZE),
measures the plain-text baseline, sends the mix for five minutes (`--mix-duration`), reads
each app worker's resident memory from /proc while it runs, measures the baseline again,
and reports the cache hit ratio, req/s ÷ baseline, p50/p99, memory per worker and the
database size against the targets. See BENCHMARKS.md, "The long tail".

Popularity: rank k is asked for with probability ∝ 1/k^s, s = 1.0 by default
(`--zipf-exponent`). 1.0 is the classic fit for the popularity of web pages and profiles,
and the harder end of the usual 1.0-1.1: the smaller the exponent, the longer the tail, the
more requests fall on pages no cache holds. Ranks are spread over creator ids by a stride
coprime with their number, so the most popular pages are not all the first creators.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.dataset import FIRST, TOPIC, handle_of
from bench.wrk import Figures, run_wrk, write_requests

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "longtail.lua"
CREATORS = 1_000_000
MIX_SECONDS = 300.0
EXPONENT = 1.0
RSS_EVERY_S = 30.0
MB = 1024 * 1024
TARGETS: list[tuple[str, str, Any]] = [
    ("ratio", ">=", 0.5),  # the whole mix, ÷ the plain-text baseline of the same run
    ("max_worker_rss_mb", "<=", 250.0),  # whatever the number of pages seen
]
# The data set's shape and size, kept as the database's comment: a later run with
# --keep-data reuses a database whose comment and row counts match, instead of seeding again.
SHAPE_VERSION = 1


# --- the distribution ---------------------------------------------------------------------


def harmonic(n: int, s: float) -> float:
    """H(n, s) = Σ 1/k^s for k = 1..n."""
    return math.fsum(k**-s for k in range(1, n + 1))


def expected_top_share(n: int, s: float) -> float:
    """The share of requests that go to the most popular page."""
    return 1 / harmonic(n, s)


def best_hit_ratio(n: int, s: float, entries: int) -> float:
    """The share of requests for the `entries` most popular pages: what a cache of that
    many entries serves at best (no expiry, no cold start)."""
    return harmonic(min(entries, n), s) / harmonic(n, s)


def coprime_stride(n: int) -> int:
    """A stride near n/φ with no factor in common with n: k -> (k·stride) mod n is then a
    permutation of 0..n-1."""
    stride = max(1, int(n * 0.6180339887))
    while math.gcd(stride, n) != 1:
        stride += 1
    return stride


def creator_of_rank(rank: int, n: int, stride: int) -> int:
    """The creator id of popularity rank `rank` (1-based), as lua/longtail.lua computes it."""
    return ((rank - 1) * stride) % n + 1


class ZipfSampler:
    """Rejection-inversion sampling of ranks 1..n with P(k) ∝ 1/k^s (Hörmann and Derflinger,
    1996): lua/longtail.lua's sampler, line for line, so that it can be tested here."""

    def __init__(self, n: int, s: float, rng: random.Random) -> None:
        self.n, self.s, self.rng = n, s, rng
        self.h_x1 = self._h_integral(1.5) - 1
        self.h_n = self._h_integral(n + 0.5)
        self.skew = 2 - self._h_integral_inverse(self._h_integral(2.5) - self._h(2))

    @staticmethod
    def _helper1(x: float) -> float:
        return math.log1p(x) / x if abs(x) > 1e-8 else 1 - x * (0.5 - x * (1 / 3 - 0.25 * x))

    @staticmethod
    def _helper2(x: float) -> float:
        return math.expm1(x) / x if abs(x) > 1e-8 else 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x))

    def _h(self, x: float) -> float:
        return math.exp(-self.s * math.log(x))

    def _h_integral(self, x: float) -> float:
        log_x = math.log(x)
        return self._helper2((1 - self.s) * log_x) * log_x

    def _h_integral_inverse(self, x: float) -> float:
        t = max(x * (1 - self.s), -1.0)
        return math.exp(self._helper1(t) * x)

    def rank(self) -> int:
        while True:
            u = self.h_n + self.rng.random() * (self.h_x1 - self.h_n)
            x = self._h_integral_inverse(u)
            k = min(max(math.floor(x + 0.5), 1), self.n)
            if k - x <= self.skew or u >= self._h_integral(k + 0.5) - self._h(k):
                return k


# --- memory -------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """`root` and every process descended from it, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, ()))
    return tree


def rss_mb(pid: int) -> float | None:
    """VmRSS of `pid` in MB, from /proc/<pid>/status; None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_rss(server_pid: int) -> dict[int, float]:
    """Resident MB of each process under the server's own (the workers; granian's main
    process only supervises them)."""
    out = {}
    for pid in process_tree(server_pid)[1:]:
        value = rss_mb(pid)
        if value is not None:
            out[pid] = round(value, 1)
    return out


def page_cache_entry_bytes(bodies: list[bytes]) -> tuple[float, float]:
    """The memory one entry of the app's page cache holds for these pages, on average: the
    page and its gzip and brotli variants once both codings have been asked for, objects included
    (the response heads the fast lane adds later are about 2.5 KB more); and the part of it
    the cache's byte budget counts (the variants' bodies)."""
    from app.profiles.cache import PageCache

    cache = PageCache(max_entries=len(bodies) + 1)
    cache.set_live(True)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n, body in enumerate(bodies):
            rendered = bytes(bytearray(body))  # a page of its own, as a render makes it
            entry = cache.page(n, rendered, None)
            cache.put(f"page{n}", entry, cache.generation)
            for coding in ("br", "gzip"):
                cache.variant(entry, coding)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / len(bodies), cache.bytes / len(bodies)


# --- the data set -------------------------------------------------------------------------


def shape_of(args: argparse.Namespace) -> dict:
    return {
        "version": SHAPE_VERSION,
        "creators": args.creators,
        "links_per_creator": args.links,
        "seed": args.seed,
    }


async def seeded_shape(url: str) -> dict | None:
    """The shape this database was seeded with, if it exists, says so, and still holds
    exactly those rows; None otherwise."""
    import asyncpg

    try:
        conn = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = current_database()"
        )
        try:
            shape = json.loads(comment or "")
        except json.JSONDecodeError:
            return None
        creators = await conn.fetchval("SELECT count(*) FROM creator")
        links = await conn.fetchval("SELECT count(*) FROM link")
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()
    if not isinstance(shape, dict):
        return None
    expected = (shape.get("creators"), shape.get("creators", 0) * shape.get("links_per_creator", 0))
    return shape if (creators, links) == expected else None


async def seed(url: str, args: argparse.Namespace, parent_company_id: str) -> dict:
    """A fresh database with the long-tail data set; returns the timings."""
    import functools

    import asyncpg

    from app.shared.fees import MoneyRules
    from bench import database
    from bench.dataset import stream_dataset

    started = time.monotonic()
    await database.recreate(url)
    await database.migrate()
    conn = await asyncpg.connect(url)
    try:
        rules = MoneyRules.from_rows(
            await conn.fetchrow("SELECT * FROM platform_config WHERE id = 1"),
            await conn.fetch("SELECT * FROM currency_rule"),
        )
        timings = await stream_dataset(
            conn,
            random.Random(args.seed),  # noqa: S311 - a reproducible data set, not a secret
            creators=args.creators,
            links_per_creator=args.links,
            parent_company_id=parent_company_id,
            fee_for=functools.partial(rules.fee_for, currency="usd"),
            indexes_after=not args.indexes_during_load,
        )
        name = database.database_name(url)
        shape = json.dumps(shape_of(args)).replace("'", "''")
        await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{shape}'")
    finally:
        await conn.close()
    return {**timings.as_dict(), "total_s": round(time.monotonic() - started, 1)}


async def database_facts(url: str) -> dict:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
        server_version = await conn.fetchval("SHOW server_version")
        tables = await conn.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS bytes FROM pg_class"
            " WHERE oid IN ('public.creator'::regclass, 'public.link'::regclass)"
        )
    finally:
        await conn.close()
    return {
        "database_bytes": size,
        "database_mb": round(size / MB),
        "postgres": server_version,
        **{f"{r['relname']}_mb": round(r["bytes"] / MB) for r in tables},
    }


async def drop(url: str) -> None:
    import asyncpg

    from bench import database

    name = database.database_name(url)
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    admin = await asyncpg.connect(database.with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# --- the run ------------------------------------------------------------------------------


@dataclass(slots=True)
class Mix:
    figures: Figures
    raw: dict
    rss: list[dict]  # samples while it ran: {"at_s", "workers": {pid: MB}}


class LongTail:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir

    def run(self) -> dict:
        from dotenv import dotenv_values

        from bench import database
        from bench.run import CREDENTIALS, ROOT, Bench, _free_port

        args = self.args
        url = database.choose_url(os.environ, dotenv_values(ROOT / ".env"))
        port, whop_port = _free_port(), _free_port()
        app_env, whop_env = Bench(args, self.workdir)._environments(url, port, whop_port)
        os.environ.update(app_env)

        shape = asyncio.run(seeded_shape(url)) if args.keep_data else None
        name = database.database_name(url)
        if shape == shape_of(args):
            print(f"bench: reusing database {name} ({args.creators:,} creators) …", flush=True)
            asyncio.run(database.migrate())  # whatever migration landed since it was seeded
            seeding = {"reused": True}
        else:
            print(
                f"bench: database {name} (recreated), seeding {args.creators:,} creators × "
                f"{args.links} links …",
                flush=True,
            )
            seeding = asyncio.run(seed(url, args, CREDENTIALS["WHOP_PARENT_COMPANY_ID"]))
            print(f"bench: seeded in {seeding['total_s']:.0f} s ({seeding})", flush=True)
        try:
            results = self._serve_and_measure(url, port, whop_port, whop_env)
            results["seeding"] = seeding
            results["database"] = asyncio.run(database_facts(url))
            results["versions"]["PostgreSQL"] = results["database"].pop("postgres")
        finally:
            if not args.keep_data:
                asyncio.run(drop(url))
                print(f"bench: dropped database {name} (--keep-data keeps it)", flush=True)
        results["checks"] = report.evaluate(
            {"ratio": results["mix"]["ratio"], "max_worker_rss_mb": results["memory"]["max_mb"]},
            TARGETS,
        )
        return results

    def _serve_and_measure(self, url: str, port: int, whop_port: int, whop_env: dict) -> dict:
        from bench.machine import machine, versions
        from bench.server import servers_for
        from bench.wrk import wrk_version

        args = self.args
        kind, server, whop = servers_for(args, (port, whop_port), whop_env, self.workdir)
        results: dict[str, Any] = {
            "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine(),
            "versions": versions(postgres="?", wrk=wrk_version(), server=kind),
            "settings": {
                "server": kind,
                "workers": args.workers,
                "db_pool_size": args.pool,
                "connections": args.connections,
                "threads": args.threads,
                "mix_s": args.mix_duration,
                "baseline_s": args.duration,
                "zipf_exponent": args.zipf_exponent,
                "creators": args.creators,
                "links_per_creator": args.links,
                "load_average_before": os.getloadavg(),
            },
        }
        try:
            whop.start()
            server.start()
            assert server.proc is not None
            results["memory_at_start"] = worker_rss(server.proc.pid)
            before = self._baseline(server.url)
            mix = self._mix(server.url, server.proc.pid)
            results["settings"]["load_average_after_mix"] = os.getloadavg()
            after = self._baseline(server.url)
            pages = self._sample_pages(server.url)
        except Exception:
            print(f"bench: app server log:\n{server.log_tail()}", file=sys.stderr)
            raise
        finally:
            server.stop()
            whop.stop()
        return {**results, **self._figures(before, after, mix, pages)}

    def _baseline(self, base_url: str) -> Figures:
        from bench.app import PLAINTEXT_PATH
        from bench.wrk import Request

        path = self.workdir / "baseline.requests"
        write_requests(path, [Request("GET", PLAINTEXT_PATH)])
        print("bench: plain text (baseline) …", flush=True)
        for seconds in (self.args.warmup, self.args.duration):
            figures = run_wrk(
                base_url,
                path,
                self.workdir / "baseline.out.json",
                threads=self.args.threads,
                connections=self.args.connections,
                seconds=seconds,
                cpus=self.args.load_cpus,
            )
        return figures

    def _mix(self, base_url: str, server_pid: int) -> Mix:
        from bench.scenarios import BROWSER, PERSON, REFERRERS

        args = self.args
        out = self.workdir / "longtail.out.json"
        headers = {**BROWSER, **PERSON}
        script_env = {
            "BENCH_CREATORS": str(args.creators),
            "BENCH_EXPONENT": repr(args.zipf_exponent),
            "BENCH_STRIDE": str(coprime_stride(args.creators)),
            "BENCH_FIRST": " ".join(FIRST),
            "BENCH_TOPIC": " ".join(TOPIC),
            "BENCH_HEADERS": "\x1f".join(f"{k}: {v}" for k, v in headers.items()),
            "BENCH_REFERRERS": "\x1f".join(r for r in REFERRERS if r),
        }
        print(
            f"bench: long-tail mix, Zipf s={args.zipf_exponent:g} over {args.creators:,} pages, "
            f"{args.mix_duration:.0f} s …",
            flush=True,
        )
        outcome: dict[str, Any] = {}

        def send() -> None:
            try:
                outcome["figures"] = run_wrk(
                    base_url,
                    self.workdir / "unused.requests",
                    out,
                    threads=args.threads,
                    connections=args.connections,
                    seconds=args.mix_duration,
                    cpus=args.load_cpus,
                    script=LUA_SCRIPT,
                    script_env=script_env,
                )
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller
                outcome["error"] = exc

        sender = threading.Thread(target=send, name="wrk-longtail")
        started = time.monotonic()
        sender.start()
        samples = []
        while sender.is_alive():
            sender.join(RSS_EVERY_S)
            samples.append(
                {"at_s": round(time.monotonic() - started), "workers": worker_rss(server_pid)}
            )
        if "error" in outcome:
            raise outcome["error"]
        return Mix(outcome["figures"], json.loads(out.read_text()), samples)

    def _sample_pages(self, base_url: str, count: int = 200) -> list[bytes]:
        """Rendered pages of `count` creators spread over the whole set, uncompressed."""
        import httpx

        step = max(1, self.args.creators // count)
        with httpx.Client(base_url=base_url, timeout=10) as client:
            return [
                client.get(f"/{handle_of(n)}", headers={"Accept-Encoding": "identity"}).content
                for n in range(1, self.args.creators + 1, step)
            ]

    def _figures(self, before: Figures, after: Figures, mix: Mix, pages: list[bytes]) -> dict:
        from app.profiles.cache import PageCache

        args = self.args
        baseline_rps = (before.rps + after.rps) / 2
        counted = mix.raw["x_cache"]
        answered = sum(counted.values())
        final = mix.rss[-1]["workers"] if mix.rss else {}
        bound = PageCache()  # as the app makes it
        entry_bytes, counted_bytes = page_cache_entry_bytes(pages)
        max_bytes = bound.max_bytes
        max_entries = min(bound.max_entries, int(max_bytes / counted_bytes))
        return {
            "baseline": {
                "rps": round(baseline_rps, 1),
                "before": before.as_dict(),
                "after": after.as_dict(),
            },
            "mix": {
                **mix.figures.as_dict(),
                "ratio": report.ratio(mix.figures.rps, baseline_rps),
                "x_cache": counted,
                "statuses": mix.raw.get("statuses", {}),
                "hit_ratio": round(counted["hit"] / answered, 4) if answered else None,
                "distinct_pages": mix.raw["distinct_pages"],
                "top_page_share": round(mix.raw["top_rank"] / max(1, mix.raw["sent"]), 5),
                "expected_top_page_share": round(
                    expected_top_share(args.creators, args.zipf_exponent), 5
                ),
                "best_hit_ratio_for_cache_size": round(
                    best_hit_ratio(args.creators, args.zipf_exponent, max_entries), 4
                ),
            },
            "memory": {
                "samples": mix.rss,
                "workers_mb": list(final.values()),
                "max_mb": max(final.values()) if final else None,
                "page_cache_max_entries": max_entries,  # of these pages, within both bounds
                "page_cache_max_bytes": max_bytes,
                "page_cache_entry_kb": round(entry_bytes / 1024, 1),
                "page_kb": round(sum(map(len, pages)) / len(pages) / 1024, 1),
                "page_cache_full_mb": round(entry_bytes * max_entries / MB, 1),
            },
        }


def print_results(results: dict) -> None:
    mix, memory, base = results["mix"], results["memory"], results["baseline"]
    db = results.get("database", {})
    settings = results["settings"]
    lines = [
        "",
        f"long tail — {settings['creators']:,} creators × {settings['links_per_creator']} "
        f"links, Zipf s={settings['zipf_exponent']:g}, {settings['mix_s']:.0f} s of mix, "
        f"{settings['workers']} workers ({results['when']})",
        f"  load average before / after the mix: {_load(settings['load_average_before'])} / "
        f"{_load(settings.get('load_average_after_mix'))}",
        f"  baseline (plain text): {base['rps']:,.0f} req/s",
        f"  mix: {mix['rps']:,.0f} req/s = {mix['ratio']}× baseline; p50 {mix['p50_ms']:.1f} ms,"
        f" p99 {mix['p99_ms']:.1f} ms; answers by status {mix['statuses']}",
        f"  page cache: hit ratio {mix['hit_ratio']:.1%} ({mix['x_cache']}); the "
        f"{memory['page_cache_max_entries']:,} most popular pages get "
        f"{mix['best_hit_ratio_for_cache_size']:.1%} of requests",
        f"  pages asked for: {mix['distinct_pages']:,}; top page share "
        f"{mix['top_page_share']:.3%} (Zipf: {mix['expected_top_page_share']:.3%})",
        f"  resident memory per worker after the mix: {memory['workers_mb']} MB "
        f"(at start: {list(results.get('memory_at_start', {}).values())})",
        f"  page cache entry ≈ {memory['page_cache_entry_kb']} KB (page {memory['page_kb']} KB"
        f" uncompressed) → full cache "
        f"≈ {memory['page_cache_full_mb']} MB per worker",
        f"  database: {db.get('database_mb', '?'):,} MB (creator {db.get('creator_mb')} MB, "
        f"link {db.get('link_mb')} MB); seeding: {results.get('seeding')}",
    ]
    for check in results.get("checks", []):
        verdict = {True: "PASS", False: "MISS", None: "n/a"}[check["pass"]]
        lines.append(f"  {verdict}  {check['target']}: {check['value']} {check['gap']}".rstrip())
    print("\n".join(lines))


def _load(value: Any) -> str:
    return " ".join(f"{v:.2f}" for v in value) if value else "?"


def main(args: argparse.Namespace, workdir: Path) -> dict:
    results = LongTail(args, workdir).run()
    print_results(results)
    return results
