"""The rooms of docs/ARCHITECTURE.md: the imports keep the contracts in pyproject.toml, and
the document draws exactly the rooms the contracts name, in their order."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_the_imports_keep_every_contract(capsys):
    os.chdir(ROOT)
    assert lint_imports(no_cache=True, no_logo=True) == EXIT_STATUS_SUCCESS, capsys.readouterr()


def test_the_architecture_page_draws_the_layers_of_the_contract():
    (layers,) = [c["layers"] for c in CONTRACTS["contracts"] if c["type"] == "layers"]
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    picture = page.split("```")[1]
    # A room's line: its names, then three or more spaces, then what it is.
    drawn = [
        re.split(r"\s{3,}", line.strip())[0]
        for line in picture.splitlines()
        if line.strip().startswith("app.")
    ]
    assert drawn == [layer.replace(" | ", " │ ") for layer in layers]


def test_every_package_under_app_is_a_room_of_the_contract():
    (layers,) = [c["layers"] for c in CONTRACTS["contracts"] if c["type"] == "layers"]
    named = set(re.findall(r"app\.([a-z_]+)", " ".join(layers)))
    packages = {p.parent.name for p in (ROOT / "app").glob("*/__init__.py")}
    modules = {p.stem for p in (ROOT / "app").glob("*.py")} - {"__init__", "piccolo_conf"}
    assert packages | modules <= named, (packages | modules) - named
