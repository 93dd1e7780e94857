"""Named dependencies that handlers declare by type (provided in app.main)."""

from __future__ import annotations

from typing import Any

from litestar.di import NamedDependency

from app.config import Settings

SettingsDep = NamedDependency[Settings]
# The signed-in creator's row, or None for an anonymous visitor (provided as `viewer`).
ViewerDep = NamedDependency[dict[str, Any] | None]
# The signed-in creator's row; anonymous requests are sent to sign in (provided as `creator`).
CreatorDep = NamedDependency[dict[str, Any]]
