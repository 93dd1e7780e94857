"""A scripted browser for the Whop emulator's sign-in page, over real HTTP.

It does what a person does: opens the authorize page, reads its one form (hidden fields
included, exactly as served), picks an account or fills in a new test user, and presses
Approve or Deny. It works with any httpx client: an `AsyncTestClient` for the emulator
alone, or a plain `httpx.AsyncClient` against a live server for the whole round trip.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_test_user() -> dict[str, str]:
    tag = secrets.token_hex(5)
    return {
        "name": f"Tess Tester {tag}",
        "username": f"tess_{tag}",
        "email": f"tess.{tag}@example.com",
    }


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@dataclass
class Form:
    action: str
    method: str
    hidden: dict[str, str] = field(default_factory=dict)
    radios: dict[str, list[str]] = field(default_factory=dict)
    checked: dict[str, str] = field(default_factory=dict)
    text_fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get")))
        elif not self.forms:
            return
        elif tag == "input":
            form, name, kind = self.forms[-1], a.get("name", ""), a.get("type", "text")
            if kind == "hidden":
                form.hidden[name] = a.get("value", "")
            elif kind == "radio":
                form.radios.setdefault(name, []).append(a.get("value", ""))
                if "checked" in a:
                    form.checked[name] = a.get("value", "")
            else:
                form.text_fields[name] = a.get("value", "")
        elif tag == "button":
            self.forms[-1].buttons.append((a.get("name", ""), a.get("value", "")))


def read_forms(html: str) -> list[Form]:
    reader = _FormReader()
    reader.feed(html)
    return reader.forms


@dataclass
class AuthorizePage:
    http: httpx.AsyncClient
    url: str
    response: httpx.Response
    form: Form

    @property
    def accounts(self) -> list[str]:
        return self.form.radios.get("account", [])

    async def submit(
        self, decision: str = "approve", account: str | None = None, **new_user: str
    ) -> httpx.Response:
        assert ("decision", decision) in self.form.buttons
        data = {**self.form.hidden, **self.form.checked, **self.form.text_fields}
        if account is not None:
            data["account"] = account
        data.update(new_user)
        data["decision"] = decision
        url = urljoin(self.url, self.form.action)
        return await self.http.post(url, data=data, follow_redirects=False)

    async def approve_new_user(self, **overrides: str) -> httpx.Response:
        return await self.submit("approve", account="new", **{**new_test_user(), **overrides})

    async def deny(self) -> httpx.Response:
        return await self.submit("deny")


async def open_authorize_page(http: httpx.AsyncClient, url: str) -> AuthorizePage:
    response = await http.get(url, follow_redirects=False)
    assert response.status_code == 200, response.text
    forms = read_forms(response.text)
    assert len(forms) == 1
    assert forms[0].method.lower() == "post"
    return AuthorizePage(http=http, url=str(response.url), response=response, form=forms[0])


async def start_login(browser: httpx.AsyncClient, next_path: str = "/dashboard") -> str:
    r = await browser.get("/auth/login?" + urlencode({"next": next_path}))
    assert r.status_code == 303
    return r.headers["location"]


async def approve_at_whop(browser: httpx.AsyncClient, authorize_url: str, **user: str) -> str:
    """Approve on the emulator's page as a new test user (or `account=`); the callback URL."""
    page = await open_authorize_page(browser, authorize_url)
    if "account" in user:
        r = await page.submit("approve", account=user["account"])
    else:
        r = await page.approve_new_user(**user)
    assert r.status_code == 302, r.text
    return r.headers["location"]


async def sign_in_through_whop(
    browser: httpx.AsyncClient, next_path: str = "/dashboard", **user: str
):
    callback = await approve_at_whop(browser, await start_login(browser, next_path), **user)
    return await browser.get(callback)


def authorize_url(settings, **overrides) -> str:
    params = {
        "response_type": "code",
        "client_id": settings.whop_client_id,
        "redirect_uri": settings.redirect_uri,
        "scope": "openid profile email",
        "state": "state-" + secrets.token_urlsafe(8),
        "nonce": "nonce-" + secrets.token_urlsafe(8),
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
        **overrides,
    }
    return "/_whop/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})
