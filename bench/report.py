"""Targets, verdicts and the tables: pure functions over the results dictionary, so a stored
`bench/results/*.json` can be re-rendered (`python -m bench --report FILE`).

The targets are issue 6's, as ratios to the plain-text baseline measured in the same run
(absolute numbers drift on a shared machine; ratios drift much less).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

KB = 1024
# scenario key -> [(metric, op, limit)]
TARGETS: dict[str, list[tuple[str, str, Any]]] = {
    "public": [("ratio", ">=", 1.5), ("p99_ms", "<=", 10.0)],
    "click": [("ratio", ">=", 1.0)],
    "insights": [("p99_ms", "<=", 50.0)],
    "public_uncached": [("ratio", ">=", 0.25)],
    "public_buyer": [],
    "poll": [("ratio", ">=", 0.4)],
    "webhooks": [("rps", ">=", 1000.0), ("exactly_once", "==", True)],
    "studio": [],
    "weight": [("total_gzip_bytes", "<=", 20 * KB), ("third_party", "==", 0)],
}
LABELS = {
    "ratio": "÷ baseline",
    "p99_ms": "p99",
    "rps": "req/s",
    "exactly_once": "exactly once",
    "total_gzip_bytes": "gzip total",
    "third_party": "third-party requests",
    "max_worker_rss_mb": "MB resident per worker",
}
START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"


def ratio(value: float, baseline: float) -> float | None:
    return round(value / baseline, 3) if baseline > 0 else None


def _limit_text(metric: str, op: str, limit: Any) -> str:
    if metric == "exactly_once":
        return "exactly once"
    if metric == "p99_ms":
        return f"p99 {op.replace('<=', '≤')} {limit:g} ms"
    if metric == "total_gzip_bytes":
        return f"≤ {limit / KB:g} KB gzip"
    if metric == "third_party":
        return "no third-party requests"
    if metric == "rps":
        return f"≥ {limit:,.0f} req/s"
    return f"{LABELS.get(metric, metric)} {op.replace('>=', '≥').replace('<=', '≤')} {limit:g}"


def _value_text(metric: str, value: Any) -> str:
    if metric == "p99_ms":
        return f"{value:.1f} ms"
    if metric == "total_gzip_bytes":
        return f"{value / KB:.1f} KB"
    if metric == "rps":
        return f"{value:,.0f} req/s"
    if metric == "ratio":
        return f"{value:.2f}"
    return str(value)


def _gap_text(metric: str, op: str, value: Any, limit: Any) -> str:
    if isinstance(limit, bool) or op == "==":
        return ""
    if metric == "p99_ms":
        return f"{value - limit:+.1f} ms"
    if metric == "total_gzip_bytes":
        return f"{(value - limit) / KB:+.1f} KB"
    return f"{(value / limit - 1) * 100:+.0f} %".replace("-", "−")


def evaluate(metrics: Mapping[str, Any], targets: Sequence[tuple[str, str, Any]]) -> list[dict]:
    """One check per target: the value, whether it passes, and by how much it is off."""
    checks = []
    for metric, op, limit in targets:
        value = metrics.get(metric)
        if value is None:
            checks.append(
                {
                    "metric": metric,
                    "target": _limit_text(metric, op, limit),
                    "value": None,
                    "pass": None,
                    "gap": "not measured",
                }
            )
            continue
        if op == ">=":
            ok = value >= limit
        elif op == "<=":
            ok = value <= limit
        elif op == "==":
            ok = value == limit
        else:
            raise ValueError(f"unknown comparison {op!r}")
        checks.append(
            {
                "metric": metric,
                "target": _limit_text(metric, op, limit),
                "value": value,
                "pass": bool(ok),
                "gap": "" if ok else _gap_text(metric, op, value, limit),
            }
        )
    return checks


def verdict(checks: Sequence[Mapping[str, Any]]) -> str:
    """`PASS`, `MISS: p99 23.4 ms (+13.4 ms); ÷ baseline 0.31 (−38 %)`, or `—` without targets."""
    if not checks:
        return "—"
    misses = []
    for c in checks:
        if c["pass"] is None:
            misses.append(f"{LABELS.get(c['metric'], c['metric'])} not measured")
        elif not c["pass"]:
            shown = _value_text(c["metric"], c["value"])
            gap = f" ({c['gap']})" if c["gap"] else ""
            misses.append(f"{LABELS.get(c['metric'], c['metric'])} {shown}{gap}")
    return "PASS" if not misses else "MISS: " + "; ".join(misses)


def _num(value: Any, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def scenario_rows(results: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for s in results["scenarios"]:
        fig = s.get("figures") or {}
        targets = ", ".join(c["target"] for c in s.get("checks", [])) or "—"
        if s["status"] != "measured":
            shown = s.get("note") or s["status"]
            rows.append([s["title"], "—", "—", "—", "—", "—", "—", targets, shown])
            continue
        errors = sum(fig.get("errors", {}).values())
        rows.append(
            [
                s["title"],
                _num(fig.get("rps"), ",.0f"),
                _num(fig.get("p50_ms"), ".2f"),
                _num(fig.get("p99_ms"), ".2f"),
                str(errors),
                _num(s.get("ratio"), ".2f"),
                _num(fig.get("bytes_per_request"), ",.0f"),
                targets,
                verdict(s.get("checks", [])),
            ]
        )
    return rows


HEADER = [
    "Scenario", "req/s", "p50 ms", "p99 ms", "errors", "÷ baseline", "B/response", "Target",
    "Verdict",
]  # fmt: skip


def markdown_table(results: Mapping[str, Any]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for row in scenario_rows(results):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def console_table(results: Mapping[str, Any]) -> str:
    rows = [HEADER, *scenario_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    out = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        out.append("  ".join([*cells, row[-1]]))
    return "\n".join(out)


def weight_lines(weight: Mapping[str, Any] | None) -> list[str]:
    if not weight:
        return ["Public page weight: not measured."]
    if "error" in weight:
        return [f"Public page weight: not measured ({weight['error']})."]
    estimated = [i["url"].split("?")[0] for i in weight["items"] if not i.get("sent_gzip")]
    if weight.get("server_compresses") or not estimated:
        how = "as sent"
    elif len(estimated) == len(weight["items"]):
        how = "gzip -6 of each body; the app does not compress"
    else:
        how = f"as sent, but gzip -6 of what the app sends uncompressed: {', '.join(estimated)}"
    parts = ", ".join(f"{i['url'].split('?')[0]} {i['gzip']:,} B" for i in weight["items"])
    third = ", ".join(weight["third_party"]) or "none"
    return [
        f"Public page weight ({weight['page']}, {weight['links']} links, no premium links): "
        f"**{weight['total_gzip_bytes'] / KB:.1f} KB gzip** in {weight['requests']} same-origin "
        f"requests ({how}) — {verdict(weight.get('checks', []))}.",
        f"Parts: {parts}. Third-party requests: {third}. "
        f"htmx loaded: {'yes' if weight['htmx_loaded'] else 'no'}.",
    ]


def webhook_lines(webhooks: Mapping[str, Any] | None) -> list[str]:
    if not webhooks:
        return []
    if "problems" not in webhooks:
        return [f"Webhook exactly-once check: {webhooks.get('note', 'not run')}."]
    ok = "held" if webhooks["exactly_once"] else "FAILED"
    line = (
        f"Webhook exactly-once check: **{ok}** — {webhooks['sent']:,} deliveries "
        f"({webhooks['events']:,} events, {webhooks['redeliveries']:,} redeliveries = "
        f"{webhooks['duplicate_share']:.0%}); {webhooks['retried_after_run']} re-sent after "
        "the run (cut off when wrk stopped)."
    )
    if webhooks.get("processing_rate"):
        line += (
            f" Deliveries are answered once stored; the inbox workers finished processing "
            f"{webhooks['settled_after_s']:g} s after the run, {webhooks['processing_rate']:,.0f} "
            f"events/s end to end (first delivery received to last event processed, both runs)."
        )
    return [line, *(f"- {p}" for p in webhooks["problems"])]


def environment_lines(results: Mapping[str, Any]) -> list[str]:
    m, v, s = results["machine"], results["versions"], results["settings"]
    versions = ", ".join(f"{name} {ver}" for name, ver in v.items())
    baseline = results["baseline"]
    return [
        f"Run {results['when']} · {m['cpu']} · {m['cores']} cores · {m['memory_gib']:.0f} GiB · "
        f"{m['os']}",
        f"Versions: {versions}.",
        f"Server: {s['server']} × {s['workers']} workers, DB_POOL_SIZE {s['db_pool_size']} per "
        f"worker, 127.0.0.1; Whop: the emulator in its own {s['server']} server × "
        f"{s.get('whop_workers', 1)}; load: wrk -t{s['threads']} -c{s['connections']}, "
        f"{s['warmup_s']:g} s warm-up + {s['duration_s']:g} s per scenario; all on this "
        f"machine (load average at start {', '.join(map(str, m['load_average_at_start']))})"
        + (f"; pinned: {s['pinned']}, PostgreSQL unpinned." if s.get("pinned") else "."),
        f"Baseline (plain text, same app and server): {baseline['rps']:,.0f} req/s "
        f"(before the scenarios {baseline['before']['rps']:,.0f}, after "
        f"{baseline['after']['rps']:,.0f}; p99 {baseline['before']['p99_ms']:.2f} ms).",
    ]


def markdown_section(results: Mapping[str, Any]) -> str:
    parts = [
        *(f"- {line}" for line in environment_lines(results)),
        "",
        markdown_table(results),
        "",
        *weight_lines(results.get("weight")),
        "",
        *webhook_lines(results.get("webhooks")),
    ]
    notes = [s for s in results["scenarios"] if s.get("note") and s["status"] == "measured"]
    if notes:
        parts += ["", "Notes:", *(f"- {s['title']}: {s['note']}" for s in notes)]
    return "\n".join(parts).rstrip() + "\n"


def replace_section(document: str, section: str, name: str = "results") -> str:
    """`document` with the text between the `name` markers replaced (appended if absent)."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{section.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _: block, document, count=1)
    return document.rstrip() + "\n\n" + block + "\n"


def update_benchmarks_md(path: Path, results: Mapping[str, Any]) -> None:
    """The latest run's section: one for the default layout, one for `--pin` runs."""
    document = path.read_text() if path.exists() else "# Benchmarks\n"
    name = "results-pinned" if results["settings"].get("pinned") else "results"
    path.write_text(replace_section(document, markdown_section(results), name))
