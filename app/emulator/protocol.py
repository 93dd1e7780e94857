"""How the emulated API speaks: Whop's error body, bearer auth, parameters, cursors, replays.

- Errors are `{"error": {"type", "code", "message", "param"}}` with Whop's status meanings
  (docs/whop-contract.md §11); `ApiError` carries one and the routers render it.
- Every request needs `Authorization: Bearer <key>`: an API key (acting for its company and
  that company's connected companies) or an access token (its own company only).
- Bodies are JSON objects; numbers are parsed as `Decimal` so money stays exact.
- Lists use Whop's cursor envelope `{"data", "page_info"}`, newest first.
- A POST with an `Idempotency-Key` runs once: the claim on the key, the work and the stored
  response share one transaction, so a concurrent duplicate waits on the key's row and then
  replays the stored response; a reused key with a different request is a 400, as at Whop.
  A key is good for a day (`IDEMPOTENCY_WINDOW`); `retention.py` deletes it afterwards.
- URLs a person is sent back to must be https, as Whop requires, except on loopback hosts
  (a developer's machine) and the emulator's own origin, where http is allowed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, overload
from urllib.parse import urlsplit

import asyncpg
from litestar import Request, Response

from app.config import loopback_url
from app.emulator import store
from app.whop.money import currency_exponent, normalize_currency

PRINCIPAL_KEY = "whop_emulator.principal"

_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "unprocessable_entity",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or _TYPES.get(status, "api_error")
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "type": self.type,
                "code": self.code,
                "message": self.message,
                "param": self.param,
            }
        }

    def response(self) -> Response:
        return Response(self.body(), status_code=self.status, headers=self.headers)


def missing(param: str) -> ApiError:
    message = f"Missing required parameter: {param}"
    return ApiError(400, message, code="parameter_missing", param=param)


def invalid(param: str, why: str) -> ApiError:
    return ApiError(422, f"Invalid parameter {param}: {why}", code="parameter_invalid", param=param)


def not_found(what: str, id_: str) -> ApiError:
    return ApiError(404, f"{what} {id_} was not found", code="not_found")


# --- who is asking ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    company_id: str
    kind: Literal["api_key", "access_token"]
    owner: str  # the credential's hash: idempotency keys are scoped to it

    def require_api_key(self) -> None:
        if self.kind != "api_key":
            raise ApiError(403, "This endpoint needs an API key, not an access token")


async def authenticate(conn: asyncpg.Connection, authorization: str | None) -> Principal | None:
    scheme, _, credential = (authorization or "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    digest = store.secret_hash(credential)
    company = await conn.fetchval(
        "SELECT company_id FROM whop_emulator.api_key WHERE key_hash = $1", digest
    )
    if company is not None:
        return Principal(company, "api_key", digest)
    company = await conn.fetchval(
        "SELECT company_id FROM whop_emulator.access_token"
        " WHERE token_hash = $1 AND expires_at > now()",
        digest,
    )
    if company is not None:
        return Principal(company, "access_token", digest)
    return None


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "Missing or invalid credentials: send Authorization: Bearer <API key>",
        code="invalid_credentials",
    )


def principal_of(request: Request) -> Principal:
    return request.scope[PRINCIPAL_KEY]  # type: ignore[literal-required]


async def visible_company(
    conn: asyncpg.Connection, principal: Principal, company_id: str
) -> asyncpg.Record:
    """The company, if this credential may act for it (itself, or one of its children)."""
    row = await conn.fetchrow("SELECT * FROM whop_emulator.company WHERE id = $1", company_id)
    if row is None:
        raise not_found("Company", company_id)
    if row["id"] == principal.company_id:
        return row
    if principal.kind == "api_key" and row["parent_id"] == principal.company_id:
        return row
    raise ApiError(
        403,
        f"This credential cannot act for company {company_id}: it must be the API key's "
        "company or one of its connected companies",
    )


# --- parameters -----------------------------------------------------------------------------


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object", code="invalid_json")
    return body


# The `*_param` readers below return a str when the parameter is required (a missing one
# is a 400 already), and str | None when it is optional.
@overload
def text(body: Mapping[str, Any], key: str, *, required: Literal[True] = True) -> str: ...
@overload
def text(body: Mapping[str, Any], key: str, *, required: bool) -> str | None: ...
def text(body: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise missing(key)
        return None
    if not isinstance(value, str):
        raise invalid(key, "must be a string")
    return value


@overload
def company_param(data: Mapping[str, Any], *, required: Literal[True] = True) -> str: ...
@overload
def company_param(data: Mapping[str, Any], *, required: bool) -> str | None: ...
def company_param(data: Mapping[str, Any], *, required: bool = True) -> str | None:
    """`company_id` (legacy shape), or `account_id` (the 2026 shape) — both are accepted."""
    value = data.get("company_id") or data.get("account_id")
    if not value:
        if required:
            raise missing("company_id")
        return None
    if not isinstance(value, str) or not value.startswith("biz_"):
        raise invalid("company_id", "must be a company id starting with biz_")
    return value


@overload
def url_param(body: Mapping[str, Any], key: str, *, required: Literal[True] = True) -> str: ...
@overload
def url_param(body: Mapping[str, Any], key: str, *, required: bool) -> str | None: ...
def url_param(body: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = text(body, key, required=required)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(key, "must be an absolute http(s) URL")
    return value


@overload
def return_url_param(
    body: Mapping[str, Any], key: str, *, own_origin: str, required: Literal[True] = True
) -> str: ...
@overload
def return_url_param(
    body: Mapping[str, Any], key: str, *, own_origin: str, required: bool
) -> str | None: ...
def return_url_param(
    body: Mapping[str, Any], key: str, *, own_origin: str, required: bool = True
) -> str | None:
    """A URL a person's browser is sent back to. Whop requires https; http passes only on a
    loopback host (a developer's machine) and on the emulator's own origin, which is plain
    http only where its operator chose that (a test server, a WHOP_EMULATOR=1 demo)."""
    value = url_param(body, key, required=required)
    if value is None or urlsplit(value).scheme == "https" or loopback_url(value):
        return value
    if _origin(value) == _origin(own_origin):
        return value
    raise ApiError(
        400,
        f"Invalid parameter {key}: must be an https URL (http is accepted only for localhost, "
        "loopback addresses and the emulator's own origin)",
        code="parameter_invalid",
        param=key,
    )


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


# Codes in Whop's currency enum that are not ISO 4217 (Whop's own balance, a stablecoin).
WHOP_OWN_CURRENCIES = frozenset({"whop_usd", "usdt"})


def currency_param(value: Any, key: str = "currency") -> str:
    if not value:
        raise missing(key)
    if isinstance(value, str) and value.strip().lower() in WHOP_OWN_CURRENCIES:
        return value.strip().lower()
    try:
        return normalize_currency(value)
    except ValueError:
        raise invalid(key, "must be a three-letter ISO 4217 code such as usd") from None


@overload
def amount_param(
    value: Any, key: str, currency: str, *, required: Literal[True] = True
) -> Decimal: ...
@overload
def amount_param(value: Any, key: str, currency: str, *, required: bool) -> Decimal | None: ...
def amount_param(value: Any, key: str, currency: str, *, required: bool = True) -> Decimal | None:
    """A positive major-unit amount with no more decimals than the currency has."""
    if value is None:
        if required:
            raise missing(key)
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise invalid(key, "must be a number in major units, such as 10.00")
    amount = Decimal(value)
    if not amount.is_finite() or amount <= 0:
        raise invalid(key, "must be greater than zero")
    exponent = currency_exponent(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-exponent)):
        raise invalid(key, f"{currency} amounts have at most {exponent} decimals")
    if amount >= Decimal(10) ** 12:
        raise invalid(key, "is too large")
    return amount


def time_param(value: Any, key: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(key, "must be an ISO 8601 timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(key, "must be an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_param(request: Request, name: str) -> list[str]:
    """`name[]=a&name[]=b` (how Whop's SDK sends arrays) or `name=a&name=b`."""
    params = request.query_params
    return [*params.getall(f"{name}[]", []), *params.getall(name, [])]


# --- cursor pages ---------------------------------------------------------------------------

DEFAULT_PAGE = 25
MAX_PAGE = 100


def _cursor(row: Mapping[str, Any]) -> str:
    raw = json.dumps([row["created_at"].isoformat(), row["id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, id_ = json.loads(raw)
        return datetime.fromisoformat(stamp), str(id_)
    except (ValueError, TypeError):
        raise invalid("after", "is not a cursor this API returned") from None


async def page(
    conn: asyncpg.Connection,
    request: Request,
    query: str,
    args: list[Any],
    shape: Callable[[asyncpg.Record], dict[str, Any]],
) -> dict[str, Any]:
    """One page of `query` (which selects `created_at` and `id`), newest first."""
    params = request.query_params
    if params.get("before") or params.get("last"):
        raise ApiError(
            400, "The emulator pages forward only: use first and after", code="parameter_invalid"
        )
    try:
        first = int(params.get("first") or DEFAULT_PAGE)
    except ValueError:
        raise invalid("first", "must be a whole number") from None
    if not 1 <= first <= MAX_PAGE:
        raise invalid("first", f"must be between 1 and {MAX_PAGE}")
    sql = f"SELECT * FROM ({query}) AS q"  # noqa: S608 (query text is ours; values are $n)
    args = list(args)
    if after := params.get("after"):
        stamp, id_ = _decode_cursor(after)
        args += [stamp, id_]
        sql += f" WHERE (q.created_at, q.id) < (${len(args) - 1}, ${len(args)})"
    sql += f" ORDER BY q.created_at DESC, q.id DESC LIMIT {first + 1}"
    rows = await conn.fetch(sql, *args)
    more = len(rows) > first
    rows = rows[:first]
    return {
        "data": [shape(r) for r in rows],
        "page_info": {
            "start_cursor": _cursor(rows[0]) if rows else None,
            "end_cursor": _cursor(rows[-1]) if rows else None,
            "has_next_page": more,
            "has_previous_page": bool(after),
        },
    }


# --- idempotent writes ----------------------------------------------------------------------

Work = Callable[[asyncpg.Connection], Awaitable[tuple[int, dict[str, Any]]]]

IDEMPOTENCY_WINDOW = timedelta(hours=24)


async def idempotent(request: Request, work: Work) -> Response:
    """Run `work` in one transaction, at most once per Idempotency-Key."""
    principal = principal_of(request)
    key = request.headers.get("idempotency-key")
    raw = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + raw
    ).hexdigest()
    async with store.transaction() as conn:
        if key:
            # Blocks while a concurrent request holds the same key, then finds its stored
            # response; a key older than the window (not yet pruned) may be used afresh.
            claimed = await conn.fetchval(
                """
                INSERT INTO whop_emulator.idempotency_key (owner, key, method, path, fingerprint)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (owner, key) DO UPDATE
                   SET fingerprint = EXCLUDED.fingerprint, method = EXCLUDED.method,
                       path = EXCLUDED.path, status = NULL, body = NULL, created_at = now()
                 WHERE idempotency_key.created_at < now() - $6::interval
                RETURNING true
                """,
                principal.owner,
                key,
                request.method,
                request.url.path,
                fingerprint,
                IDEMPOTENCY_WINDOW,
            )
            if not claimed:
                row = await conn.fetchrow(
                    "SELECT fingerprint, status, body FROM whop_emulator.idempotency_key"
                    " WHERE owner = $1 AND key = $2",
                    principal.owner,
                    key,
                )
                if row["fingerprint"] != fingerprint:
                    raise ApiError(
                        400,
                        "This Idempotency-Key was already used with a different request (another "
                        "method, path or body); send a new key for a new request",
                        code="idempotency_key_reused",
                        param="Idempotency-Key",
                    )
                return Response(
                    json.loads(row["body"]),
                    status_code=row["status"],
                    headers={"Idempotent-Replayed": "true"},
                )
        status, body = await work(conn)
        if key:
            await conn.execute(
                "UPDATE whop_emulator.idempotency_key SET status = $3, body = $4"
                " WHERE owner = $1 AND key = $2",
                principal.owner,
                key,
                status,
                store.dumps(body),
            )
    return Response(body, status_code=status)
