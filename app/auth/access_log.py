"""Access logs without sign-in secrets.

The server's access log prints each request line, and /auth/callback's carries Whop's
authorization code and our state. They are replaced by `[redacted]` before any handler
formats the record, whatever server runs the app (uvicorn's logger is `uvicorn.access`).
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = (
    "code",
    "state",
    "nonce",
    "code_verifier",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
)
_SECRET_VALUE = re.compile(r"([?&](?:%s)=)[^&\s\"]*" % "|".join(SECRET_PARAMS))  # noqa: UP031


def redact(text: str) -> str:
    return _SECRET_VALUE.sub(r"\1[redacted]", text)


class RedactOAuthSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactOAuthSecrets) for f in logger.filters):
        logger.addFilter(RedactOAuthSecrets())
