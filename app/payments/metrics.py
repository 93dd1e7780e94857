"""What the operator watches at /metrics (Prometheus text format).

Counters and the latency histogram live in this process (each app process reports its
own; Prometheus sums them per job). What the database knows — how old the oldest pending
unlock is, how many inbox events wait — is read at scrape time, so every process reports
the same, current number.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from app.db.tables import Unlock

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


async def render_metrics() -> bytes:
    """The exposition: this process's counters, then the database's gauges as of now."""
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
    ]

    class _Snapshot:
        def collect(self):
            return gauges

    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot())
    # The default registry holds what other rooms count (CSP reports) and the process stats.
    return (
        generate_latest(REGISTRY)
        + generate_latest(snapshot)
        + generate_latest(prometheus_client.REGISTRY)
    )
