"""The integration suite: real PostgreSQL, real HTTP through the app."""

from tests.support.database import (  # noqa: F401 (fixtures: registered by being named here)
    _clean,
    _migrated,
    app,
    client,
    live_server,
    make_creator,
    other_client,
    sign_in,
)
from tests.support.private_cluster import private_cluster  # noqa: F401 (a fixture)
