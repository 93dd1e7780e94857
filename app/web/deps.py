"""Named dependencies that handlers declare by type (provided in app.main)."""

from __future__ import annotations

from litestar.di import NamedDependency

from app.auth.service import CreatorRecord
from app.config import Settings

SettingsDep = NamedDependency[Settings]
# The signed-in creator's row, or None for an anonymous visitor (provided as `viewer`).
ViewerDep = NamedDependency[CreatorRecord | None]
# The signed-in creator's row; anonymous requests are sent to sign in (provided as `creator`).
CreatorDep = NamedDependency[CreatorRecord]
