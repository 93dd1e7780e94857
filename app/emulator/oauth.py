"""The emulator's Sign in with Whop: OAuth 2.1 with PKCE, and OpenID Connect.

Faithful to docs/whop-contract.md §1: `/oauth/authorize` (a page to choose or create a test user
and approve), `/oauth/token` (JSON or form bodies; authorization_code with S256 PKCE,
single-use codes that expire after five minutes and the exact redirect URI; rotating
refresh tokens), `/oauth/userinfo`, `/oauth/revoke`, discovery and JWKS, and ES256
id_tokens carrying the nonce. An unknown client or redirect URI is shown as an error here
and never redirected to, as a real authorization server must; the consent form may end at
the origin of the validated redirect URI only (its `form-action`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from joserfc import jwt
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from app.config import Settings
from app.emulator import identity
from app.web.deps import SettingsDep
from app.web.headers import allow_form_redirects

CLIENT_NAME = "Linkmint"
SCOPE_DESCRIPTIONS = {
    "openid": "Your Whop user id",
    "profile": "Your name, username and profile picture",
    "email": "Your email address",
}
TICKET_LIFETIME = 10 * 60  # seconds an approval form stays valid
BROWSER_COOKIE = "whop_emulator_browser"
AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)
SCOPE_TOKEN = re.compile(r"[A-Za-z0-9:_.-]{1,64}")
CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url(SHA-256), unpadded
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
USERNAME = re.compile(r"[a-z0-9_.]{3,30}")
EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- the authorization request ----------------------------------------------------------


class ShownError(Exception):
    """Shown on the emulator's own page: the client or redirect URI cannot be trusted."""


class ReturnedError(Exception):
    """Sent back to the (registered) redirect URI as `error=…&error_description=…`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    response_type: str
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    nonce: str
    code_challenge: str
    code_challenge_method: str

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


def _single(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name, [])
    if len(values) > 1:
        raise ReturnedError("invalid_request", f"{name} must be given once")
    return values[0] if values else ""


async def check_authorize_request(
    params: Mapping[str, list[str]],
) -> tuple[dict[str, Any], AuthorizeRequest]:
    """The client and a validated request, or `ShownError` / `ReturnedError`."""
    client_ids, redirect_uris = params.get("client_id", []), params.get("redirect_uri", [])
    if len(client_ids) != 1 or not client_ids[0]:
        raise ShownError("The request names no app (client_id is missing or repeated).")
    client = await identity.client_by_id(client_ids[0])
    if client is None:
        raise ShownError(f"No app with client_id “{client_ids[0]}” is registered with Whop.")
    if len(redirect_uris) != 1 or not redirect_uris[0]:
        raise ShownError("The request has no redirect_uri (or more than one).")
    if redirect_uris[0] not in client["redirect_uris"]:
        raise ShownError(
            f"The redirect_uri “{redirect_uris[0]}” is not registered for {client['name']}. "
            "Whop only sends you back to an address the app registered, exactly as written."
        )
    request = AuthorizeRequest(**{name: _single(params, name) for name in AUTHORIZE_PARAMS})
    if request.response_type != "code":
        raise ReturnedError("unsupported_response_type", "response_type must be code")
    if not request.code_challenge:
        raise ReturnedError("invalid_request", "code_challenge is required (PKCE)")
    if request.code_challenge_method != "S256":
        raise ReturnedError("invalid_request", "code_challenge_method must be S256")
    if not CHALLENGE.fullmatch(request.code_challenge):
        raise ReturnedError("invalid_request", "code_challenge must be an S256 challenge")
    scopes = request.scopes
    if not scopes or not all(SCOPE_TOKEN.fullmatch(s) for s in scopes):
        raise ReturnedError("invalid_scope", "scope must be a space-separated list of scopes")
    if len(request.state) > 1024 or len(request.nonce) > 1024:
        raise ReturnedError("invalid_request", "state and nonce can have at most 1024 characters")
    return client, request


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _send_back(request: AuthorizeRequest, **params: str) -> Redirect:
    return Redirect(
        _with_query(request.redirect_uri, **params, state=request.state), status_code=302
    )


# --- the approval form: a ticket binds it to the request, this browser and a deadline ----


def _ticket_mac(secret: bytes, browser: str, issued: int, request: AuthorizeRequest) -> str:
    message = json.dumps([browser, issued, asdict(request)], sort_keys=True).encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_ticket(secret: bytes, browser: str, request: AuthorizeRequest) -> str:
    issued = int(time.time())
    return f"{issued}.{_ticket_mac(secret, browser, issued, request)}"


def ticket_valid(secret: bytes, browser: str, request: AuthorizeRequest, ticket: str) -> bool:
    issued_text, _, mac = ticket.partition(".")
    if not browser or not issued_text.isdigit():
        return False
    issued = int(issued_text)
    if not 0 <= time.time() - issued <= TICKET_LIFETIME:
        return False
    expected = _ticket_mac(secret, browser, issued, request)
    return hmac.compare_digest(mac.encode(), expected.encode())


@dataclass
class NewUserForm:
    name: str = ""
    username: str = ""
    email: str = ""

    @property
    def filled_in(self) -> bool:
        """Someone typed into the new-user fields: they mean a new user, whichever radio
        button was left selected (the most recent user is pre-selected)."""
        return bool(self.name or self.username or self.email)

    def errors(self) -> dict[str, str]:
        errors = {}
        if not self.name:
            errors["name"] = "Enter a name."
        elif len(self.name) > 60:
            errors["name"] = "A name can have at most 60 characters."
        elif not self.name.isprintable():
            errors["name"] = "A name cannot hold control characters."
        if not USERNAME.fullmatch(self.username):
            errors["username"] = "3–30 characters: lower-case letters, digits, '_' and '.'."
        if len(self.email) > 254 or not EMAIL.fullmatch(self.email):
            errors["email"] = "Enter an email address like sam@example.com."
        return errors


def _clean_form(form: Mapping[str, str]) -> NewUserForm:
    return NewUserForm(
        name=" ".join(form.get("name", "").split()),
        username=form.get("username", "").strip().lower().removeprefix("@"),
        email=form.get("email", "").strip(),
    )


def _browser_cookie(settings: Settings, value: str) -> Cookie:
    return Cookie(
        key=BROWSER_COOKIE,
        value=value,
        path="/_whop",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


async def _authorize_page(
    request: Request,
    settings: Settings,
    client: dict[str, Any],
    auth: AuthorizeRequest,
    *,
    form: NewUserForm | None = None,
    errors: dict[str, str] | None = None,
    account: str | None = None,
    status_code: int = 200,
) -> Template:
    keys = await identity.emulator_keys()
    browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(16)
    users = await identity.recent_users()
    if account is None:
        account = users[0]["id"] if users else "new"
    return Template(
        template_name="emulator/authorize.html",
        context={
            "app_name": client["name"],
            "scopes": [(s, SCOPE_DESCRIPTIONS.get(s, s)) for s in auth.scopes],
            "params": asdict(auth),
            "ticket": make_ticket(keys.form_secret, browser, auth),
            "users": users,
            "account": account,
            "form": form or NewUserForm(),
            "errors": errors or {},
        },
        status_code=status_code,
        cookies=[_browser_cookie(settings, browser)],
        headers={"Cache-Control": "no-store"},
    )


def _shown_error(message: str) -> Template:
    return Template(
        template_name="emulator/error.html",
        context={"message": message},
        status_code=400,
        headers={"Cache-Control": "no-store"},
    )


@get("/oauth/authorize", name="emulator:authorize", cache=False)
async def authorize(request: Request, settings: SettingsDep) -> Response:
    params = {k: request.query_params.getall(k) for k in request.query_params}
    try:
        client, auth = await check_authorize_request(params)
    except ShownError as exc:
        return _shown_error(str(exc))
    except ReturnedError as exc:
        redirect_uri, state = params["redirect_uri"][0], (params.get("state") or [""])[0]
        return Redirect(
            _with_query(
                redirect_uri, error=exc.error, error_description=exc.description, state=state
            ),
            status_code=302,
        )
    allow_form_redirects(request.scope, settings.app_url, auth.redirect_uri)
    return await _authorize_page(request, settings, client, auth)


@post("/oauth/authorize", name="emulator:approve", status_code=302)
async def approve(request: Request, settings: SettingsDep) -> Response:
    submitted = await request.form()
    form = {k: v for k, v in submitted.items() if isinstance(v, str)}
    try:
        client, auth = await check_authorize_request(
            {k: [form.get(k, "")] for k in AUTHORIZE_PARAMS}
        )
    except (ShownError, ReturnedError) as exc:
        return _shown_error(str(exc))
    allow_form_redirects(request.scope, settings.app_url, auth.redirect_uri)
    keys = await identity.emulator_keys()
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if not ticket_valid(keys.form_secret, browser, auth, form.get("ticket", "")):
        return _shown_error(
            "This approval form has expired or was not opened in this browser. "
            "Go back to the app and start signing in again."
        )
    if form.get("decision") != "approve":
        return _send_back(
            auth, error="access_denied", error_description="The user denied the request"
        )

    account = form.get("account", "")
    new_user = _clean_form(form)
    user: dict[str, Any] | None
    if account == "new" or new_user.filled_in:
        if errors := new_user.errors():
            return await _authorize_page(
                request, settings, client, auth, form=new_user, errors=errors, account="new",
                status_code=422,
            )  # fmt: skip
        try:
            user = await identity.create_user(new_user.name, new_user.username, new_user.email)
        except identity.UserTaken as taken:
            message = f"Another test user already has this {taken.field}."
            return await _authorize_page(
                request, settings, client, auth, form=new_user, errors={taken.field: message},
                account="new", status_code=422,
            )  # fmt: skip
    else:
        user = await identity.user_by_id(account) if account else None
        if user is None:
            return await _authorize_page(
                request, settings, client, auth,
                errors={"account": "Choose one of the test users shown, or create one."},
                status_code=422,
            )  # fmt: skip

    code = await identity.issue_code(
        client_id=client["client_id"],
        user_id=user["id"],
        redirect_uri=auth.redirect_uri,
        scope=auth.scope,
        nonce=auth.nonce or None,
        code_challenge=auth.code_challenge,
    )
    return _send_back(auth, code=code)


# --- the token endpoint -----------------------------------------------------------------


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status_code: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code

    def response(self) -> Response:
        headers = dict(NO_STORE)
        if self.status_code == 401:
            headers["WWW-Authenticate"] = 'Basic realm="whop"'
        return Response(
            {"error": self.error, "error_description": self.description},
            status_code=self.status_code,
            headers=headers,
        )


async def read_params(request: Request) -> dict[str, str]:
    """A token/revoke request's parameters, from a JSON or a form body (Whop takes both)."""
    body = await request.body()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise OAuthError("invalid_request", "The JSON body is malformed") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise OAuthError("invalid_request", "The JSON body must be an object of strings")
        return data
    if media_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            raise OAuthError("invalid_request", "The form body is malformed") from None
        names = [name for name, _ in pairs]
        if len(names) != len(set(names)):
            raise OAuthError("invalid_request", "A parameter was given more than once")
        return dict(pairs)
    raise OAuthError(
        "invalid_request", "Send application/json or application/x-www-form-urlencoded"
    )


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except ValueError:
        raise OAuthError("invalid_client", "Malformed Basic credentials", 401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "Malformed Basic credentials", 401)
    return unquote_plus(client_id), unquote_plus(secret)


async def authenticate_client(request: Request, params: dict[str, str]) -> dict[str, Any]:
    """client_secret_basic, client_secret_post, or none (a public PKCE client). A secret
    that is sent must be right."""
    basic = _basic_credentials(request)
    if basic and "client_secret" in params:
        raise OAuthError("invalid_request", "Use one client authentication method, not two")
    client_id, secret = basic or (params.get("client_id", ""), params.get("client_secret"))
    if basic and params.get("client_id", client_id) != client_id:
        raise OAuthError("invalid_client", "client_id does not match the credentials", 401)
    if not client_id:
        raise OAuthError("invalid_client", "client_id is required", 401)
    client = await identity.client_by_id(client_id)
    if client is None:
        raise OAuthError("invalid_client", "Unknown client_id", 401)
    if secret is not None and not identity.secret_matches(client, secret):
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    return client


def _required(params: dict[str, str], *names: str) -> list[str]:
    for name in names:
        if not params.get(name):
            raise OAuthError("invalid_request", f"{name} is required")
    return [params[name] for name in names]


def mint_id_token(
    key: Any, *, issuer: str, client_id: str, user: dict[str, Any], scope: str, nonce: str | None
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user["id"],
        "aud": client_id,
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        **_profile_claims(user, scope.split()),
    }
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "JWT"}, claims, key)


def _profile_claims(user: dict[str, Any], scopes: list[str]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims.update(
            name=user["name"], preferred_username=user["username"], picture=user["picture"]
        )
    if "email" in scopes:
        claims.update(email=user["email"], email_verified=True)
    return claims


async def _token_response(
    settings: Settings,
    *,
    grant_id: str,
    client_id: str,
    user_id: str,
    scope: str,
    nonce: str | None,
) -> Response:
    user = await identity.user_by_id(user_id)
    if user is None:
        raise OAuthError("invalid_grant", "The user no longer exists")
    tokens = await identity.issue_tokens(
        grant_id=grant_id, client_id=client_id, user_id=user_id, scope=scope
    )
    body: dict[str, Any] = {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "token_type": "Bearer",
        "expires_in": int(identity.ACCESS_TOKEN_LIFETIME.total_seconds()),
    }
    if "openid" in scope.split():
        keys = await identity.emulator_keys()
        body["id_token"] = mint_id_token(
            keys.signing, issuer=settings.oauth_authority, client_id=client_id, user=user,
            scope=scope, nonce=nonce,
        )  # fmt: skip
    return Response(body, headers=NO_STORE)


async def _authorization_code_grant(
    settings: Settings, client: dict[str, Any], params: dict[str, str]
) -> Response:
    code, redirect_uri, verifier = _required(params, "code", "redirect_uri", "code_verifier")
    if not VERIFIER.fullmatch(verifier):
        raise OAuthError("invalid_request", "code_verifier must be 43-128 unreserved characters")
    redemption = await identity.redeem_code(code)
    if redemption.outcome == "unknown":
        raise OAuthError("invalid_grant", "Authorization code is invalid")
    if redemption.outcome == "used":
        raise OAuthError("invalid_grant", "Authorization code has already been used")
    if redemption.outcome == "expired":
        raise OAuthError("invalid_grant", "Authorization code has expired")
    grant = redemption.code
    assert grant is not None  # noqa: S101 - "ok" carries the row
    if grant["client_id"] != client["client_id"]:
        raise OAuthError("invalid_grant", "Authorization code was issued to another client")
    if grant["redirect_uri"] != redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
    if not hmac.compare_digest(s256(verifier), grant["code_challenge"]):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    return await _token_response(
        settings, grant_id=grant["grant_id"], client_id=grant["client_id"],
        user_id=grant["user_id"], scope=grant["scope"], nonce=grant["nonce"],
    )  # fmt: skip


REFRESH_FAILURES = {
    "unknown": "Refresh token is invalid",
    "reused": "Refresh token was already used; the grant has been revoked",
    "revoked": "Refresh token has been revoked",
    "expired": "Refresh token has expired",
}


async def _refresh_token_grant(
    settings: Settings, client: dict[str, Any], params: dict[str, str]
) -> Response:
    (refresh_token,) = _required(params, "refresh_token")
    rotation = await identity.spend_refresh_token(refresh_token)
    token = rotation.token
    if rotation.outcome != "ok" or token is None or token["client_id"] != client["client_id"]:
        raise OAuthError(
            "invalid_grant", REFRESH_FAILURES.get(rotation.outcome, "Refresh token is invalid")
        )
    scope = token["scope"]
    if requested := params.get("scope"):
        if not set(requested.split()) <= set(scope.split()):
            raise OAuthError("invalid_scope", "A refresh cannot widen the granted scope")
        scope = requested
    return await _token_response(
        settings, grant_id=token["grant_id"], client_id=token["client_id"],
        user_id=token["user_id"], scope=scope, nonce=None,
    )  # fmt: skip


@post("/oauth/token", name="emulator:token", status_code=200)
async def token(request: Request, settings: SettingsDep) -> Response:
    try:
        params = await read_params(request)
        grant_type = params.get("grant_type", "")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError(
                "unsupported_grant_type", f"grant_type {grant_type!r} is not supported"
            )
        client = await authenticate_client(request, params)
        if grant_type == "authorization_code":
            return await _authorization_code_grant(settings, client, params)
        return await _refresh_token_grant(settings, client, params)
    except OAuthError as exc:
        return exc.response()


@post("/oauth/revoke", name="emulator:revoke", status_code=200)
async def revoke(request: Request) -> Response:
    try:
        params = await read_params(request)
        client = await authenticate_client(request, params)
        (value,) = _required(params, "token")
    except OAuthError as exc:
        return exc.response()
    # RFC 7009: an unknown or already revoked token is not an error.
    await identity.revoke_refresh_token(value, client["client_id"])
    return Response({}, headers=NO_STORE)


# --- userinfo, discovery, JWKS ------------------------------------------------------------


def _bearer_error(status_code: int, error: str | None, description: str) -> Response:
    challenge = 'Bearer realm="whop"'
    if error:
        challenge += f', error="{error}", error_description="{description}"'
    body = {"error": error or "invalid_request", "error_description": description}
    return Response(body, status_code=status_code, headers={"WWW-Authenticate": challenge})


@get("/oauth/userinfo", name="emulator:userinfo", cache=False)
async def userinfo(request: Request) -> Response:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return _bearer_error(401, None, "An access token is required")
    grant = await identity.access_grant(value.strip())
    if grant is None:
        return _bearer_error(401, "invalid_token", "The access token is invalid or expired")
    scopes = grant["scope"].split()
    if "openid" not in scopes:
        return _bearer_error(403, "insufficient_scope", "userinfo needs the openid scope")
    user = {"id": grant["sub"], **{k: grant[k] for k in ("name", "username", "email", "picture")}}
    return Response({"sub": grant["sub"], **_profile_claims(user, scopes)}, headers=NO_STORE)


@get("/.well-known/openid-configuration", name="emulator:discovery", cache=False)
async def discovery(settings: SettingsDep) -> dict[str, Any]:
    base = settings.oauth_base
    return {
        "issuer": settings.oauth_authority,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "revocation_endpoint": f"{base}/revoke",
        "jwks_uri": f"{settings.oauth_authority}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_post",
            "client_secret_basic",
        ],
        "scopes_supported": list(SCOPE_DESCRIPTIONS),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "name",
            "preferred_username",
            "picture",
            "email",
            "email_verified",
        ],  # fmt: skip
    }


@get("/.well-known/jwks.json", name="emulator:jwks", cache=False)
async def jwks() -> Response:
    keys = await identity.emulator_keys()
    public = keys.signing.as_dict(private=False)
    return Response({"keys": [public]}, headers={"Cache-Control": "public, max-age=300"})


def routes(settings: Settings) -> list:
    return [authorize, approve, token, revoke, userinfo, discovery, jwks]


async def bootstrap(settings: Settings) -> None:
    """The app's OAuth client exists at the emulator, as it would at Whop, with this
    instance's redirect URI added to its registered set; the signing key exists."""
    await identity.register_client(
        settings.whop_client_id, CLIENT_NAME, settings.whop_client_secret, settings.redirect_uri
    )
    await identity.ensure_signing_key()
