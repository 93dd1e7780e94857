"""What the operator watches at /metrics (Prometheus text format).

Counters and the latency histogram live in this process (each app process reports its
own; Prometheus sums them per job). What the database knows — how old the oldest pending
unlock is, how many inbox events wait, how far behind the sweep of Whop's records is, what
the latest money audit found — is read at scrape time, so every process reports the same,
current number.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from app.db.tables import Unlock

if TYPE_CHECKING:  # (imported where used: the audit imports this module)
    from app.payments.audit import StoredAudit

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOK_LATENCY = Histogram(
    "linkmint_webhook_delivery_latency_seconds",
    "Time from a webhook attempt's signature (webhook-timestamp) to our receiving it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
SIGNATURE_FAILURES = Counter(
    "linkmint_webhook_signature_failures",
    "Webhook requests refused because they were unsigned, malformed, stale or forged.",
    registry=REGISTRY,
)
DUPLICATE_DELIVERIES = Counter(
    "linkmint_webhook_duplicate_deliveries",
    "Webhook deliveries whose webhook-id was already in the inbox (idempotency hits).",
    registry=REGISTRY,
)
INBOX_OVERFLOW = Counter(
    "linkmint_webhook_inbox_overflow",
    "Stored events the in-process workers could not queue (left to the drainer).",
    registry=REGISTRY,
)
WEBHOOK_EVENTS = Counter(
    "linkmint_webhook_events_processed",
    "Inbox events processed, by event type and result.",
    ["type", "result"],
    registry=REGISTRY,
)
CONVERGENCE = Counter(
    "linkmint_convergence_outcomes",
    "Payments converged onto unlocks, by path (redirect, webhook, reconcile) and result.",
    ["path", "result"],
    registry=REGISTRY,
)
MISMATCHES = Counter(
    "linkmint_payment_mismatches",
    "Payments refused for the unlock they name (never completed), by reason: company, "
    "checkout, plan, currency, fee or amount.",
    ["reason"],
    registry=REGISTRY,
)
EXPIRED = Counter(
    "linkmint_unlocks_expired",
    "Pending unlocks the reconciler expired because nothing was paid.",
    registry=REGISTRY,
)

# The classic text format (what generate_latest writes); Litestar adds the charset itself.
CONTENT_TYPE = "text/plain; version=0.0.4"

_DB_SQL = """
SELECT
  (SELECT extract(epoch FROM now() - min(created_at)) FROM unlock WHERE status = 'PENDING')
    AS oldest_pending,
  (SELECT count(*) FROM unlock WHERE status = 'PENDING') AS pending,
  (SELECT extract(epoch FROM now() - min(received_at)) FROM webhook_event
    WHERE processed_at IS NULL) AS oldest_unprocessed,
  (SELECT count(*) FROM webhook_event WHERE processed_at IS NULL) AS unprocessed,
  (SELECT count(*) FROM duplicate_payment WHERE refunded_at IS NULL) AS unrefunded_duplicates
"""


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value or 0))


def _audit_gauges(audit: StoredAudit | None) -> list[GaugeMetricFamily]:
    """The latest money audit: per currency, our paid and refunded totals beside Whop's (in
    minor units), and how many payments and creators differ. Per creator is in the audit
    itself (`linkmint reconcile --audit`), not here: one series per creator would not scale."""
    from app.payments.audit import per_currency

    paid = GaugeMetricFamily(
        "linkmint_audit_paid_minor_units",
        "Charged in the latest audit's period, by our records (side=ours) and Whop's.",
        labels=["currency", "side"],
    )
    refunded = GaugeMetricFamily(
        "linkmint_audit_refunded_minor_units",
        "Refunded of those charges, by our records (side=ours) and Whop's.",
        labels=["currency", "side"],
    )
    differing = _gauge(
        "linkmint_audit_differing_payments",
        "Payments whose state differs between our records and Whop's in the latest audit.",
        len(audit.differences) if audit else 0,
    )
    creators = _gauge(
        "linkmint_audit_differing_creators",
        "Creators whose totals differ from Whop's in the latest audit.",
        sum(1 for books in (audit.totals if audit else ()) if not books.agree),
    )
    ran = _gauge(
        "linkmint_audit_last_run_timestamp_seconds",
        "When the latest money audit ran (0: never).",
        audit.ran_at.timestamp() if audit else 0,
    )
    for currency, sums in sorted(per_currency(audit.totals if audit else ()).items()):
        paid.add_metric([currency, "ours"], sums["paid"])
        paid.add_metric([currency, "whop"], sums["whop_paid"])
        refunded.add_metric([currency, "ours"], sums["refunded"])
        refunded.add_metric([currency, "whop"], sums["whop_refunded"])
    return [paid, refunded, differing, creators, ran]


async def render_metrics(refund_window: timedelta = timedelta(days=30)) -> bytes:
    """The exposition: this process's counters, then the database's gauges as of now."""
    from app.payments.audit import latest
    from app.payments.sweep import sweep_lag

    row = (await Unlock.raw(_DB_SQL))[0]
    gauges = [
        _gauge(
            "linkmint_oldest_pending_unlock_age_seconds",
            "Age of the oldest unlock still waiting for its payment (0 when none).",
            row["oldest_pending"],
        ),
        _gauge("linkmint_pending_unlocks", "Unlocks waiting for their payment.", row["pending"]),
        _gauge(
            "linkmint_oldest_unprocessed_webhook_age_seconds",
            "Age of the oldest inbox event not yet processed (0 when none).",
            row["oldest_unprocessed"],
        ),
        _gauge(
            "linkmint_unprocessed_webhooks",
            "Inbox events stored but not yet processed.",
            row["unprocessed"],
        ),
        _gauge(
            "linkmint_unrefunded_duplicate_payments",
            "Second payments for an already paid unlock whose refund Whop has not taken yet.",
            row["unrefunded_duplicates"],
        ),
        _gauge(
            "linkmint_sweep_lag_seconds",
            "How long ago the least recently swept selling company's payments at Whop were "
            "read up to (0 when nobody sells).",
            await sweep_lag(refund_window),
        ),
        *_audit_gauges(await latest()),
    ]

    class _Snapshot:
        def collect(self) -> list[GaugeMetricFamily]:
            return gauges

    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot())
    # The default registry holds what other rooms count (CSP reports) and the process stats.
    return (
        generate_latest(REGISTRY)
        + generate_latest(snapshot)
        + generate_latest(prometheus_client.REGISTRY)
    )
