"""How `linkmint doctor` names a database in its findings: where it is, never a password."""

from __future__ import annotations

import pytest

from app.doctor import _host


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql://linkmint:s3cret@db.example:6432/linkmint", "db.example:6432/linkmint"),
        ("postgresql://postgres@127.0.0.1/test", "127.0.0.1:5432/test"),
        # A server reached by its Unix socket (the embedded one, or a local install's).
        ("postgresql://postgres:@/linkmint?host=/srv/pg", "/srv/pg (socket)/linkmint"),
    ],
)
def test_a_database_is_named_by_where_it_is_and_never_by_its_password(url: str, named: str):
    assert _host(url) == named
    assert "s3cret" not in _host(url)
