"""The benchmark's verdicts and tables (bench/report.py): pure functions over results."""

from __future__ import annotations

from bench import report


def _results(**scenario_overrides):
    scenario = {
        "key": "public",
        "title": "public page, anonymous (random handles)",
        "status": "measured",
        "note": "",
        "figures": {
            "rps": 1234.5,
            "p50_ms": 3.2,
            "p99_ms": 23.4,
            "errors": {"status": 0},
            "bytes_per_request": 1793,
        },
        "ratio": 0.93,
    }
    scenario.update(scenario_overrides)
    scenario["checks"] = report.evaluate(scenario, report.TARGETS[scenario["key"]])
    return {"scenarios": [scenario]}


def test_a_missed_ratio_says_by_how_much():
    (ratio, p99) = report.evaluate({"ratio": 0.93, "p99_ms": 23.4}, report.TARGETS["public"])
    assert ratio["pass"] is False and ratio["gap"] == "−38 %"
    assert p99["pass"] is False and p99["gap"] == "+13.4 ms"
    assert report.verdict([ratio, p99]) == "MISS: ÷ baseline 0.93 (−38 %); p99 23.4 ms (+13.4 ms)"


def test_targets_met_pass_and_scenarios_without_targets_show_a_dash():
    checks = report.evaluate({"ratio": 1.62, "p99_ms": 9.9}, report.TARGETS["public"])
    assert all(c["pass"] for c in checks)
    assert report.verdict(checks) == "PASS"
    assert report.verdict(report.evaluate({"ratio": 0.2}, report.TARGETS["studio"])) == "—"


def test_webhooks_need_the_rate_and_exactly_once():
    checks = report.evaluate({"rps": 1500.0, "exactly_once": False}, report.TARGETS["webhooks"])
    assert [c["pass"] for c in checks] == [True, False]
    assert report.verdict(checks) == "MISS: exactly once False"
    slow = report.evaluate({"rps": 250.0, "exactly_once": True}, report.TARGETS["webhooks"])
    assert report.verdict(slow) == "MISS: req/s 250 req/s (−75 %)"


def test_a_metric_that_was_not_measured_is_a_miss_not_a_pass():
    checks = report.evaluate({}, report.TARGETS["poll"])
    assert checks[0]["pass"] is None
    assert report.verdict(checks) == "MISS: ÷ baseline not measured"


def test_page_weight_over_budget_reports_the_excess_in_kilobytes():
    checks = report.evaluate(
        {"total_gzip_bytes": 22 * 1024, "third_party": 0}, report.TARGETS["weight"]
    )
    assert report.verdict(checks) == "MISS: gzip total 22.0 KB (+2.0 KB)"


def test_ratio_to_the_baseline():
    assert report.ratio(500, 2000) == 0.25
    assert report.ratio(500, 0) is None


def test_markdown_table_shows_figures_and_missing_routes():
    results = _results()
    results["scenarios"].append(
        {
            "key": "poll",
            "title": "unlock status poll",
            "status": "n/a",
            "note": "n/a (route missing: GET /unlocks/{}/status)",
            "checks": report.evaluate({}, report.TARGETS["poll"]),
        }
    )
    table = report.markdown_table(results).splitlines()
    assert table[0].startswith("| Scenario | req/s | p50 ms | p99 ms |")
    assert "| 1,234 | 3.20 | 23.40 | 0 | 0.93 | 1,793 |" in table[2]
    assert "MISS: ÷ baseline 0.93 (−38 %)" in table[2]
    assert table[3].endswith("| n/a (route missing: GET /unlocks/{}/status) |")


def test_the_results_section_replaces_the_previous_one_and_keeps_the_prose():
    doc = f"# Benchmarks\n\nIntro.\n\n{report.START}\nold table\n{report.END}\n\n## Notes\nKeep.\n"
    updated = report.replace_section(doc, "new table\n")
    assert "old table" not in updated
    assert f"{report.START}\nnew table\n{report.END}" in updated
    assert updated.startswith("# Benchmarks\n\nIntro.") and updated.endswith("## Notes\nKeep.\n")
    assert report.replace_section(updated, "newer\n").count(report.START) == 1


def test_a_pinned_run_has_a_section_of_its_own():
    doc = report.replace_section("# Benchmarks\n", "default\n")
    both = report.replace_section(doc, "pinned\n", "results-pinned")
    assert "default" in both and "<!-- bench:results-pinned:start -->\npinned\n" in both
    assert report.replace_section(both, "again\n", "results-pinned").count("pinned:start") == 1


def test_the_results_section_is_appended_when_the_markers_are_absent():
    updated = report.replace_section("# Benchmarks\n", "table\n")
    assert updated == f"# Benchmarks\n\n{report.START}\ntable\n{report.END}\n"


def test_page_weight_says_which_parts_were_sent_compressed_and_which_estimated():
    def weight(*sent_gzip: bool) -> dict:
        items = [
            {"url": f"/part{n}?v=1", "kind": "css", "raw": 900, "gzip": 300, "sent_gzip": sent}
            for n, sent in enumerate(sent_gzip)
        ]
        return {
            "page": "/alice",
            "links": 12,
            "total_gzip_bytes": 300 * len(items),
            "requests": len(items),
            "htmx_loaded": False,
            "third_party": [],
            "server_compresses": all(sent_gzip),
            "items": items,
        }

    assert "(as sent)" in report.weight_lines(weight(True, True))[0]
    assert "the app does not compress" in report.weight_lines(weight(False, False))[0]
    mixed = report.weight_lines(weight(True, False))[0]
    assert "as sent, but gzip -6 of what the app sends uncompressed: /part1)" in mixed
