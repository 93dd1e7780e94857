"""The one place that speaks HTTP to Whop: the API client, its results, the OAuth/OIDC
endpoints Sign in with Whop uses, webhook signatures, and the registry through which each
room handles the webhook events it owns (`app.whop.events`).

Amounts cross this package's boundary as integer minor units; Whop's major-unit floats
stay inside (`app.whop.money`).
"""

from app.whop.client import RetryPolicy, WhopClient, WhopDep, provide_whop, whop_lifespan
from app.whop.errors import (
    WhopBadResponse,
    WhopError,
    WhopNotFound,
    WhopRateLimited,
    WhopRejected,
    WhopUnauthorized,
    WhopUnavailable,
    WhopUnreachable,
)
from app.whop.models import (
    AccessToken,
    AccountLink,
    CheckoutConfiguration,
    Company,
    Payment,
    PaymentPage,
    PayoutDestination,
    PayoutMethod,
    Webhook,
)
from app.whop.oauth import WhopOAuth
from app.whop.webhooks import WebhookEvent, WebhookVerificationError, verify_webhook

__all__ = [
    "AccessToken",
    "AccountLink",
    "CheckoutConfiguration",
    "Company",
    "Payment",
    "PaymentPage",
    "PayoutDestination",
    "PayoutMethod",
    "RetryPolicy",
    "Webhook",
    "WebhookEvent",
    "WebhookVerificationError",
    "WhopBadResponse",
    "WhopClient",
    "WhopDep",
    "WhopError",
    "WhopNotFound",
    "WhopOAuth",
    "WhopRateLimited",
    "WhopRejected",
    "WhopUnauthorized",
    "WhopUnavailable",
    "WhopUnreachable",
    "provide_whop",
    "verify_webhook",
    "whop_lifespan",
]
