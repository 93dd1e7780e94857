"""`WhopClient`: the one object in Linkmint that speaks HTTP to Whop's REST API.

It uses Whop's legacy `company_id` request shapes and sends no `Api-Version-Date` header
(docs/whop-contract.md §0). One client, with one pooled `httpx.AsyncClient`, lives for the app's
lifetime (`whop_lifespan`); handlers receive it as `whop: WhopDep` (a view of it that waits
less), background code reads `app.state.whop`.

Reliability rules kept here so no caller has to:
- explicit timeouts; bounded retries with jittered backoff on network errors, 408, 429 and
  5xx, honouring `Retry-After` and Whop's "Try again in N seconds." message;
- Whop's rate limit is per operation and per key, so a 429's wait holds for every call of
  that operation this client makes: a call that starts before the wait is over sits it out
  first, or, if it is longer than the call may block (`RetryPolicy.max_wait`), is handed
  to its caller as `WhopRateLimited` without asking Whop again. Handlers, whose callers
  are people waiting, get a view that blocks for `REQUEST_MAX_WAIT` at most; background
  work (the inbox, the sweeps) sits out any wait Whop's one-minute window can ask for;
- every POST carries an `Idempotency-Key` (the caller's, or a fresh one per logical call)
  that stays the same across that call's retries, so a retried create never creates twice;
- every failure is one of the exceptions in `app.whop.errors`, whose messages never
  contain the API key.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import math
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency

from app.config import Settings
from app.whop.errors import (
    WhopBadResponse,
    WhopError,
    WhopNotFound,
    WhopRateLimited,
    WhopRejected,
    WhopUnauthorized,
    WhopUnavailable,
)
from app.whop.models import (
    AccessToken,
    AccountLink,
    CheckoutConfiguration,
    Company,
    Payment,
    PaymentPage,
    PayoutMethod,
    Webhook,
)
from app.whop.money import normalize_currency, to_major

log = logging.getLogger("app.whop")

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)
_PAGE_LIMIT = 1000  # a sanity bound: Whop does not document its largest `first`
REQUEST_MAX_WAIT = 2.0  # the longest wait for Whop inside a request a person is waiting on


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # tries per call, the first one included
    base_delay: float = 0.5  # seconds before the first retry; doubles each time, jittered
    max_delay: float = 8.0  # cap on one backoff wait
    max_wait: float = 60.0  # the longest Retry-After we sit out inside one call

    def backoff(self, retry: int) -> float:
        """Full-jitter backoff before retry number `retry` (1, 2, …)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return ceiling / 2 + random.random() * ceiling / 2  # noqa: S311 (jitter, not crypto)


def _path(*segments: str) -> str:
    for segment in segments:
        if not isinstance(segment, str) or not segment:
            raise ValueError(f"not a Whop id: {segment!r}")
    return "/" + "/".join(quote(s, safe="") for s in segments)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps sent to Whop must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _retry_after(response: httpx.Response, message: str) -> float | None:
    """Whop's wait, from `retry-after-ms`, `Retry-After` (seconds or a date) or the message."""
    if (ms := response.headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    if (value := response.headers.get("retry-after")) is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
    if match := _TRY_AGAIN.search(message):
        return float(match.group(1))
    return None


class WhopClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        parent_company_id: str,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        page_size: int = 100,
    ) -> None:
        self._http = http
        self.page_size = page_size  # the default `first` of list calls
        self._api_key = api_key
        self.parent_company_id = parent_company_id
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        # operation -> time.monotonic() until which Whop asked us not to call it (a 429's
        # wait); shared with the views `with_max_wait` makes.
        self._quiet_until: dict[str, float] = {}

    @classmethod
    def connect(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> WhopClient:
        """A client for `settings.api_base` with its own connection pool; `aclose()` it."""
        http = httpx.AsyncClient(
            base_url=settings.api_base,
            headers={
                "Authorization": f"Bearer {settings.whop_api_key}",
                "Accept": "application/json",
                "User-Agent": "linkmint",
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            # As many kept alive as may be open: httpcore closes idle connections whenever
            # the pool holds more than the keep-alive limit, so a burst of concurrent reads
            # (the inbox's) would otherwise reconnect for every request.
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=50),
        )
        return cls(
            http,
            api_key=settings.whop_api_key,
            parent_company_id=settings.whop_parent_company_id,
            retry=retry,
            sleep=sleep,
            page_size=settings.whop_page_size,
        )

    def with_max_wait(self, seconds: float) -> WhopClient:
        """This client, on the same connections and knowing the same waits, blocking for at
        most `seconds` of a wait Whop asks for; close the original, not the view."""
        view = copy.copy(self)
        view._retry = dataclasses.replace(self._retry, max_wait=seconds)
        return view

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> WhopClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- companies and payouts onboarding -------------------------------------------------

    async def create_connected_company(
        self,
        *,
        title: str,
        email: str,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Company:
        """A connected (child) company under the platform's parent company."""
        body = {
            "title": title,
            "email": email,
            "parent_company_id": self.parent_company_id,
            "metadata": dict(metadata or {}),
        }
        data = await self._call(
            "create connected company",
            "POST",
            "/companies",
            json=body,
            idempotency_key=idempotency_key,
        )
        return self._read("create connected company", Company.from_json, data)

    async def retrieve_company(self, company_id: str) -> Company:
        data = await self._call("retrieve company", "GET", _path("companies", company_id))
        return self._read("retrieve company", Company.from_json, data)

    async def retrieve_parent_company(self) -> tuple[Company, datetime | None]:
        """The platform's own company, and Whop's clock when it answered (the response's
        `Date`; None without a readable one): `linkmint doctor` tries the API key with it."""
        operation = "retrieve company"
        response = await self._send(operation, "GET", _path("companies", self.parent_company_id))
        company = self._read(operation, Company.from_json, _json_body(operation, response))
        try:
            answered_at = parsedate_to_datetime(response.headers.get("date", ""))
        except (TypeError, ValueError):
            return company, None
        if answered_at.tzinfo is None:  # "-0000": HTTP dates are in GMT whatever they say
            answered_at = answered_at.replace(tzinfo=UTC)
        return company, answered_at

    async def create_account_link(
        self,
        company_id: str,
        *,
        return_url: str,
        refresh_url: str,
        use_case: str = "account_onboarding",
        idempotency_key: str | None = None,
    ) -> AccountLink:
        """A hosted Whop page (KYC onboarding or the payouts portal) for a connected company."""
        body = {
            "company_id": company_id,
            "use_case": use_case,
            "return_url": return_url,
            "refresh_url": refresh_url,
        }
        data = await self._call(
            "create account link",
            "POST",
            "/account_links",
            json=body,
            idempotency_key=idempotency_key,
        )
        return self._read("create account link", AccountLink.from_json, data)

    async def list_payout_methods(self, company_id: str) -> list[PayoutMethod]:
        methods: list[PayoutMethod] = []
        async for item in self._pages(
            "list payout methods", "/payout_methods", {"company_id": company_id}, self.page_size
        ):
            methods.append(self._read("list payout methods", PayoutMethod.from_json, item))
        return methods

    async def payout_ready(self, company_id: str) -> bool:
        """Whether the company finished KYC far enough to be paid out (a usable method)."""
        return any(m.can_receive_payouts for m in await self.list_payout_methods(company_id))

    # --- checkout, payments, refunds --------------------------------------------------------

    async def create_checkout_configuration(
        self,
        *,
        company_id: str,
        price: int,
        currency: str,
        application_fee: int,
        metadata: Mapping[str, str],
        redirect_url: str | None,
        title: str | None = None,
        idempotency_key: str | None = None,
    ) -> CheckoutConfiguration:
        """A hosted checkout for an inline one-time plan, charged on the connected company.

        `price` and `application_fee` are minor units; the fee is what the platform keeps.
        """
        currency = normalize_currency(currency)
        if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
            raise ValueError(f"price must be a positive number of minor units, got {price!r}")
        if not isinstance(application_fee, int) or not 0 <= application_fee < price:
            raise ValueError(
                "application_fee must be at least 0 and less than the price, "
                f"got {application_fee!r}"
            )
        plan: dict[str, Any] = {
            "company_id": company_id,
            "currency": currency,
            "plan_type": "one_time",
            "release_method": "buy_now",
            "initial_price": to_major(price, currency),
        }
        if application_fee:  # Whop requires a positive fee when one is sent
            plan["application_fee_amount"] = to_major(application_fee, currency)
        if title:
            plan["title"] = title
        body: dict[str, Any] = {"mode": "payment", "plan": plan, "metadata": dict(metadata)}
        if redirect_url:
            body["redirect_url"] = redirect_url
        data = await self._call(
            "create checkout configuration",
            "POST",
            "/checkout_configurations",
            json=body,
            idempotency_key=idempotency_key,
        )
        return self._read("create checkout configuration", CheckoutConfiguration.from_json, data)

    async def retrieve_checkout_configuration(self, checkout_id: str) -> CheckoutConfiguration:
        operation = "retrieve checkout configuration"
        data = await self._call(operation, "GET", _path("checkout_configurations", checkout_id))
        return self._read(operation, CheckoutConfiguration.from_json, data)

    async def retrieve_payment(self, payment_id: str) -> Payment:
        data = await self._call("retrieve payment", "GET", _path("payments", payment_id))
        return self._read("retrieve payment", Payment.from_json, data)

    async def list_payments(self, company_id: str, **filters: Any) -> AsyncIterator[Payment]:
        """The company's payments, newest first, fetched page by page as you iterate;
        `filters` are `payments_page`'s."""
        cursor: str | None = None
        while True:
            page = await self.payments_page(company_id, after=cursor, **filters)
            for payment in page.payments:
                yield payment
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def payments_page(
        self,
        company_id: str,
        *,
        statuses: Iterable[str] = (),
        checkout_configuration_ids: Iterable[str] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        after: str | None = None,
        page_size: int | None = None,
    ) -> PaymentPage:
        """One page of the company's payments, newest first, from Whop's cursor `after`.

        A listed payment Whop sends without a field the app needs (the legacy model marks
        `status` and `total` optional) is left out and counted in `skipped`, so one odd
        record cannot stop a pass over thousands; retrieving it by id still fails loudly.
        """
        params: dict[str, Any] = {"company_id": company_id}
        if statuses := list(statuses):
            params["statuses[]"] = statuses
        if ids := list(checkout_configuration_ids):
            params["checkout_configuration_ids[]"] = ids
        for name, moment in (
            ("created_after", created_after),
            ("created_before", created_before),
            ("updated_after", updated_after),
            ("updated_before", updated_before),
        ):
            if moment is not None:
                params[name] = _iso(moment)
        items, next_cursor = await self._page(
            "list payments", "/payments", params, page_size or self.page_size, after
        )
        payments: list[Payment] = []
        skipped = 0
        for item in items:
            try:
                payments.append(self._read("list payments", Payment.from_json, item))
            except WhopBadResponse as exc:
                skipped += 1
                item_id = item.get("id") if isinstance(item, Mapping) else None
                log.warning("skipped a listed payment %r: %s", item_id, exc.reason)
        return PaymentPage(tuple(payments), next_cursor, skipped)

    async def refund_payment(
        self,
        payment_id: str,
        *,
        amount: int | None = None,
        currency: str | None = None,
        idempotency_key: str | None = None,
    ) -> Payment:
        """Refund all of a payment, or `amount` minor units of it (then `currency` is needed)."""
        body: dict[str, Any] = {}
        if amount is not None:
            if currency is None:
                raise ValueError("a partial refund needs the payment's currency")
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise ValueError(f"refund amount must be positive minor units, got {amount!r}")
            body["partial_amount"] = to_major(amount, currency)
        data = await self._call(
            "refund payment",
            "POST",
            _path("payments", payment_id, "refund"),
            json=body,
            idempotency_key=idempotency_key,
        )
        return self._read("refund payment", Payment.from_json, data)

    # --- embedded payouts and webhooks ------------------------------------------------------

    async def create_access_token(
        self,
        company_id: str,
        *,
        expires_at: datetime | None = None,
        scoped_actions: Iterable[str] = (),
        idempotency_key: str | None = None,
    ) -> AccessToken:
        """A short-lived token for Whop's embedded payout components of one company."""
        body: dict[str, Any] = {"company_id": company_id}
        if expires_at is not None:
            body["expires_at"] = _iso(expires_at)
        if actions := list(scoped_actions):
            body["scoped_actions"] = actions
        data = await self._call(
            "create access token",
            "POST",
            "/access_tokens",
            json=body,
            idempotency_key=idempotency_key,
        )
        return self._read("create access token", AccessToken.from_json, data)

    async def create_webhook(
        self,
        url: str,
        *,
        events: Iterable[str] = (),
        resource_id: str | None = None,
        child_resource_events: bool = False,
        idempotency_key: str | None = None,
    ) -> Webhook:
        """Register `url` for events; the result carries the `ws_…` signing secret (once)."""
        body: dict[str, Any] = {
            "url": url,
            "api_version": "v1",
            "enabled": True,
            "events": list(events),
            "child_resource_events": child_resource_events,
        }
        if resource_id:
            body["resource_id"] = resource_id
        data = await self._call(
            "create webhook", "POST", "/webhooks", json=body, idempotency_key=idempotency_key
        )
        return self._read("create webhook", Webhook.from_json, data)

    # --- the transport ----------------------------------------------------------------------

    async def _pages(
        self, operation: str, path: str, params: dict[str, Any], page_size: int
    ) -> AsyncIterator[Mapping[str, Any]]:
        cursor: str | None = None
        while True:
            items, cursor = await self._page(operation, path, params, page_size, cursor)
            for item in items:
                yield item
            if cursor is None:
                return

    async def _page(
        self,
        operation: str,
        path: str,
        params: dict[str, Any],
        page_size: int,
        after: str | None,
    ) -> tuple[list[Any], str | None]:
        """One page of a list: its items, and the cursor of the next page (None: the last)."""
        if not 1 <= page_size <= _PAGE_LIMIT:
            raise ValueError(f"page_size must be between 1 and {_PAGE_LIMIT}")
        query = {**params, "first": page_size}
        if after:
            query["after"] = after
        page = await self._call(operation, "GET", path, params=query)
        items = page.get("data") if isinstance(page, Mapping) else None
        if not isinstance(items, list):
            raise WhopBadResponse(operation, "the list response has no 'data' array")
        info = page.get("page_info") or {}
        cursor = info.get("end_cursor") if isinstance(info, Mapping) else None
        more = isinstance(info, Mapping) and info.get("has_next_page") and cursor
        return items, (cursor if more and isinstance(cursor, str) else None)

    def _read(self, operation: str, parse: Callable[[Mapping[str, Any]], T], data: Any) -> T:
        try:
            if not isinstance(data, Mapping):
                raise ValueError("the response is not a JSON object")
            return parse(data)
        except (ValueError, TypeError) as exc:
            reason = f"unexpected response: {self._scrub(str(exc))}"
            raise WhopBadResponse(operation, reason) from exc

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "[api key]") if self._api_key else text

    async def _call(self, operation: str, method: str, path: str, **request: Any) -> Any:
        """Whop's JSON answer (`request`: `_send`'s json, params and idempotency_key)."""
        return _json_body(operation, await self._send(operation, method, path, **request))

    async def _send(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Whop's successful answer, after the retries; every failure a `WhopError`."""
        headers: dict[str, str] = {}
        if method == "POST":
            # One key per logical call, reused by its retries: Whop replays the first result.
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        if (quiet := self._quiet_until.get(operation, 0.0) - time.monotonic()) > 0:
            if quiet > self._retry.max_wait:
                raise WhopRateLimited(
                    operation,
                    f"Whop asked for a pause; not asked again for {math.ceil(quiet)} seconds",
                    quiet,
                )
            await self._sleep(quiet)
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = await self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.TimeoutException as exc:
                failure: WhopError = WhopUnavailable(
                    operation, f"Whop did not answer in time ({type(exc).__name__})"
                )
                cause: BaseException = exc
            except httpx.TransportError as exc:
                failure = WhopUnavailable(
                    operation,
                    f"could not reach Whop ({type(exc).__name__}: {self._scrub(str(exc))})",
                )
                cause = exc
            except httpx.RequestError as exc:  # a body that would not decode, a redirect loop
                failure = WhopUnavailable(
                    operation,
                    f"the exchange with Whop failed ({type(exc).__name__}: "
                    f"{self._scrub(str(exc))})",
                )
                cause = exc
            else:
                if response.is_success:
                    return response
                failure, wait = self._failure(operation, response)
                cause = failure
                if isinstance(failure, WhopRateLimited) and wait is not None:
                    until = time.monotonic() + wait
                    if until > self._quiet_until.get(operation, 0.0):
                        self._quiet_until[operation] = until
            if attempt >= self._retry.attempts or (
                wait is not None and wait > self._retry.max_wait
            ):
                raise failure from (cause if cause is not failure else None)
            if wait is None:
                wait = self._retry.backoff(attempt)
            log.warning(
                "Whop %s: %s; retry %d of %d in %.2fs",
                operation,
                failure.reason,
                attempt,
                self._retry.attempts - 1,
                wait,
            )
            await self._sleep(wait)

    def _failure(self, operation: str, response: httpx.Response) -> tuple[WhopError, float | None]:
        """Map an error response to (exception, wait). Raises at once when retrying is futile."""
        status = response.status_code
        type_ = code = param = None
        message = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(error, Mapping):
            type_ = error.get("type") if isinstance(error.get("type"), str) else None
            code = error.get("code") if isinstance(error.get("code"), str) else None
            param = error.get("param") if isinstance(error.get("param"), str) else None
            message = text if isinstance(text := error.get("message"), str) else ""
        elif isinstance(error, str):  # OAuth-style {"error": "...", "error_description": ...}
            type_ = error
            message = str(body.get("error_description") or "")
        if not message:
            message = response.reason_phrase or "no error message"
            if body is None and response.text:
                message = f"{message} ({response.text[:200].strip()})"
        message = self._scrub(message)

        if status == 429:
            retry_after = _retry_after(response, message)
            kind = type_ or "rate_limit_exceeded"
            return WhopRateLimited(operation, f"429 {kind}: {message}", retry_after), retry_after
        if status >= 500 or status == 408 or (status == 409 and code == "idempotency_key_in_use"):
            kind = "/".join(p for p in (type_, code) if p) or "server_error"
            return WhopUnavailable(operation, f"{status} {kind}: {message}"), _retry_after(
                response, ""
            )
        family: type[WhopRejected] = WhopRejected
        if status in (401, 403):
            family = WhopUnauthorized
        elif status == 404:
            family = WhopNotFound
        raise family(operation, status, type_, code, message, param)


def _json_body(operation: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise WhopBadResponse(operation, f"{response.status_code} response is not JSON") from exc


# --- wiring: one client per app ------------------------------------------------------------


class InProcessTransport(httpx.AsyncBaseTransport):
    """HTTP requests answered by an ASGI app in this process, within httpx's read timeout.

    When the Whop emulator is mounted in Linkmint itself, the app reaches it this way rather
    than through APP_URL, which may be a public name the process cannot reach from inside
    (or, under the test client, no server at all). The requests are the same HTTP messages
    and run through the app's whole middleware stack.
    """

    def __init__(self, app: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = (request.extensions.get("timeout") or {}).get("read")
        try:
            async with asyncio.timeout(timeout):
                return await self._asgi.handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("no answer in time", request=request) from None

    async def aclose(self) -> None:
        await self._asgi.aclose()


def whop_lifespan(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Open the app's WhopClient at start-up (as `app.state.whop`, and as
    `app.state.whop_for_requests`, which handlers receive) and close it at shutdown.

    With the emulator mounted in this app, the client talks to it in-process.
    """

    @asynccontextmanager
    async def whop_client(app: Litestar) -> AsyncIterator[None]:
        transport = InProcessTransport(app) if settings.emulator_enabled else None
        client = WhopClient.connect(settings, transport=transport)
        app.state.whop = client
        app.state.whop_for_requests = client.with_max_wait(REQUEST_MAX_WAIT)
        try:
            yield
        finally:
            await client.aclose()

    return whop_client


def provide_whop(state: State) -> WhopClient:
    whop: WhopClient = state.whop_for_requests
    return whop


# Handlers declare `whop: WhopDep` (provided as `whop` in app.main).
WhopDep = NamedDependency[WhopClient]
