"""Where browsers report Content-Security-Policy violations: logged, and counted in /metrics.

Pages that ask for reports name this endpoint in their policy (`report-uri`, and `report-to`
with a `Reporting-Endpoints` header). Both formats arrive here: the older
`application/csp-report` body (`{"csp-report": {...}}`) and the Reporting API's
`application/reports+json` list of `csp-violation` reports.

A report is written by the browser from the page's URLs, which may carry secrets in their
query strings (an OAuth code, a token): only scheme, host and path are logged, and the
policy text and script samples never are. The counter's only label is the violated
directive, from a fixed list, so a hostile reporter cannot grow the metric without bound.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from litestar import Request, post
from litestar.exceptions import ClientException
from prometheus_client import Counter

from app.web.limits import CSP_REPORT, limited

log = logging.getLogger("app.csp")

CSP_REPORT_PATH = "/csp-report"
REPORT_GROUP = "csp"  # the report-to name, declared by the page's Reporting-Endpoints header
MAX_REPORTS = 20  # per request; the Reporting API batches several
DIRECTIVES = frozenset(
    {
        "default-src", "script-src", "script-src-elem", "script-src-attr", "style-src",
        "style-src-elem", "style-src-attr", "img-src", "font-src", "connect-src",
        "media-src", "object-src", "frame-src", "child-src", "worker-src", "manifest-src",
        "base-uri", "form-action", "frame-ancestors", "navigate-to", "trusted-types",
        "require-trusted-types-for",
    }
)  # fmt: skip
KEYWORDS = frozenset({"inline", "eval", "wasm-eval", "data", "blob", "self", "trusted-types-sink"})

CSP_VIOLATIONS = Counter(
    "linkmint_csp_violations",
    "Content-Security-Policy violations reported by browsers, by violated directive",
    ["directive"],
)


@dataclass(frozen=True, slots=True)
class Violation:
    directive: str
    blocked: str
    document: str
    source: str
    line: int | None
    column: int | None
    disposition: str


def _without_query(value: Any) -> str:
    """A URL with only scheme, host and path; a CSP keyword (`inline`, `eval`) as it is."""
    if not isinstance(value, str) or not value:
        return ""
    if value in KEYWORDS:
        return value
    parts = urlsplit(value[:2048])
    if not parts.scheme:
        return ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _directive(value: Any) -> str:
    name = value.split()[0].lower() if isinstance(value, str) and value.strip() else ""
    return name if name in DIRECTIVES else "other"


def _from_csp_report(body: dict[str, Any]) -> Violation:
    return Violation(
        directive=_directive(body.get("effective-directive") or body.get("violated-directive")),
        blocked=_without_query(body.get("blocked-uri")),
        document=_without_query(body.get("document-uri")),
        source=_without_query(body.get("source-file")),
        line=_number(body.get("line-number")),
        column=_number(body.get("column-number")),
        disposition=str(body.get("disposition") or "enforce")[:10],
    )


def _from_reporting_api(body: dict[str, Any]) -> Violation:
    return Violation(
        directive=_directive(body.get("effectiveDirective")),
        blocked=_without_query(body.get("blockedURL")),
        document=_without_query(body.get("documentURL")),
        source=_without_query(body.get("sourceFile")),
        line=_number(body.get("lineNumber")),
        column=_number(body.get("columnNumber")),
        disposition=str(body.get("disposition") or "enforce")[:10],
    )


def read_violations(raw: bytes) -> list[Violation]:
    """The violations in a report body of either format; ValueError when it is neither."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the report is not JSON") from None
    if isinstance(data, dict) and isinstance(data.get("csp-report"), dict):
        return [_from_csp_report(data["csp-report"])]
    if isinstance(data, list):
        reports = [
            r
            for r in data[:MAX_REPORTS]
            if isinstance(r, dict) and r.get("type") == "csp-violation"
            and isinstance(r.get("body"), dict)
        ]  # fmt: skip
        if reports or not data:
            return [_from_reporting_api(r["body"]) for r in reports]
    raise ValueError("the body is neither a csp-report nor a list of csp-violation reports")


def record(violation: Violation) -> None:
    CSP_VIOLATIONS.labels(directive=violation.directive).inc()
    where = violation.source or violation.document
    if violation.line is not None:
        where += f":{violation.line}:{violation.column or 0}"
    log.warning(
        "CSP violation (%s): %s blocked %s on %s at %s",
        violation.disposition,
        violation.directive,
        violation.blocked or "(unknown)",
        violation.document or "(unknown page)",
        where or "(unknown)",
    )


@post(
    CSP_REPORT_PATH,
    name="csp-report",
    status_code=204,
    include_in_schema=False,
    request_max_body_size=64 * 1024,
    before_request=limited(CSP_REPORT),
)
async def csp_report(request: Request[Any, Any, Any]) -> None:
    try:
        violations = read_violations(await request.body())
    except ValueError as exc:
        raise ClientException(f"Not a Content-Security-Policy report: {exc}.") from None
    for violation in violations:
        record(violation)
