"""The buyer cookie: a random token, signed, that nobody can forge, alter or extend."""

from __future__ import annotations

import base64
import json

import pytest

from app.payments.buyer import (
    MAX_BOUND_ACCOUNTS,
    Buyer,
    new_buyer,
    open_buyer,
    seal_buyer,
    token_digest,
)

KEY = "k" * 48


def test_a_sealed_buyer_opens_to_the_same_buyer():
    buyer = new_buyer().bound_to("user_Abc123")
    assert open_buyer(seal_buyer(buyer, KEY), KEY) == buyer
    assert buyer.token_hash == token_digest(buyer.token) and len(buyer.token_hash) == 64


def test_two_new_buyers_never_share_a_token():
    assert len({new_buyer().token for _ in range(200)}) == 200


def test_another_key_opens_nothing():
    assert open_buyer(seal_buyer(new_buyer(), KEY), "x" * 48) is None


def _payload(value: str) -> dict:
    payload = value.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _reseal(body: dict, signature: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{payload}.{signature}"


def test_claiming_someone_elses_account_breaks_the_signature():
    value = seal_buyer(new_buyer(), KEY)
    body = _payload(value)
    body["u"] = ["user_Victim000001"]
    assert open_buyer(_reseal(body, value.split(".")[1]), KEY) is None


@pytest.mark.parametrize(
    "value",
    [None, "", "no-dot", "a.b.c", "!!!.???", "x" * 3000, ".", "eyJ0IjoiIn0."],
)
def test_malformed_values_are_no_buyer(value):
    assert open_buyer(value, KEY) is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"t": "short", "u": []},
        {"t": "a" * 43},
        {"t": "a" * 43, "u": "user_x"},
        {"t": "a" * 43, "u": ["not-a-user"]},
        {"t": "a" * 43 + "<", "u": []},
    ],
)
def test_well_signed_but_malformed_bodies_are_no_buyer(body):
    import hashlib
    import hmac

    from app.payments.buyer import _b64, _key

    payload = _b64(json.dumps(body).encode())
    signature = _b64(hmac.new(_key(KEY), payload.encode(), hashlib.sha256).digest())
    assert open_buyer(f"{payload}.{signature}", KEY) is None


def test_binding_keeps_the_newest_accounts_first_and_bounded():
    buyer = Buyer(token="t" * 43)
    for n in range(MAX_BOUND_ACCOUNTS + 3):
        buyer = buyer.bound_to(f"user_{n}")
    assert buyer.whop_user_ids[0] == f"user_{MAX_BOUND_ACCOUNTS + 2}"
    assert len(buyer.whop_user_ids) == MAX_BOUND_ACCOUNTS
    assert buyer.bound_to("user_5").whop_user_ids.count("user_5") == 1
