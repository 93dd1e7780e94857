"""What can go wrong when Linkmint talks to Whop, as a small family of exceptions.

Every message names the operation and the reason (`Whop create checkout configuration
failed: 422 unprocessable_entity/parameter_invalid: ...`) and never carries the API key.

    WhopError
    ├── WhopUnavailable        network error, timeout or 5xx after the retries: try later
    │   └── WhopRateLimited    429 after the retries (or a wait longer than we will block for)
    ├── WhopRejected           a 4xx: Whop understood and said no; retrying will not help
    │   ├── WhopUnauthorized   401/403: the API key is wrong or lacks the permission
    │   └── WhopNotFound       404
    └── WhopBadResponse        a 2xx we could not read (not JSON, a field missing)
"""

from __future__ import annotations


class WhopError(Exception):
    """Something went wrong talking to Whop; `operation` says what we were doing."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(f"Whop {operation} failed: {reason}")
        self.operation = operation
        self.reason = reason


class WhopUnavailable(WhopError):
    """Whop did not answer usefully (network, timeout, 5xx); the call may succeed later."""


class WhopUnreachable(WhopUnavailable):
    """No HTTP answer at all (refused, timed out, cut off); `reason` names the network error."""


class WhopRateLimited(WhopUnavailable):
    """Whop asked us to slow down; `retry_after` is its wait in seconds, when it said one."""

    def __init__(self, operation: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(operation, reason)
        self.retry_after = retry_after


class WhopRejected(WhopError):
    """Whop refused the request (4xx) with its error body's type, code and message."""

    def __init__(
        self,
        operation: str,
        status: int,
        type: str | None,
        code: str | None,
        message: str,
        param: str | None = None,
    ) -> None:
        kind = "/".join(part for part in (type, code) if part) or "error"
        super().__init__(operation, f"{status} {kind}: {message}")
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param


class WhopUnauthorized(WhopRejected):
    """401/403: the API key is missing, wrong, for the other environment, or not allowed."""


class WhopNotFound(WhopRejected):
    """404: no such object (or not one this API key may see)."""


class WhopBadResponse(WhopError):
    """Whop answered 2xx with something we could not read."""
