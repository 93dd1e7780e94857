"""What a test reads back from the app's answers: tables on pages, Prometheus samples."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families


def sale_rows(html: str) -> list[list[str]]:
    """The earnings table as text, row by row."""
    rows = re.findall(r'<tr id="sale-[^"]+"[^>]*>(.*?)</tr>', html, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in row] for row in cells]


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found
