"""The files that travel with the code: templates, static files, migrations.

They live at the top of the repository (templates/, static/, migrations/) and the build
maps them into this package as `app.templates`, `app.static` and `app.migrations`
(pyproject.toml). So they are found the way any package is: inside the installed wheel, or,
under the editable install that `make` makes, in the checkout's own folders, edits and new
files included. Neither the working directory nor the source tree's location matters.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_folder(package: str) -> Path:
    try:
        folder = files(package)
    except ModuleNotFoundError:
        raise RuntimeError(
            f"{package} is missing: Linkmint must be installed (pip install ., or pip install -e . "
            "in a checkout, as `make` does)"
        ) from None
    if not isinstance(folder, Path):  # Jinja's loader and Piccolo's migrations want files
        raise RuntimeError(f"{package} is not installed as plain files: {folder!r}")
    return folder


TEMPLATES = package_folder("app.templates")
STATIC = package_folder("app.static")
MIGRATIONS = package_folder("app.migrations")
