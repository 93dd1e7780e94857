"""The rooms of docs/ARCHITECTURE.md: the imports keep the contracts in pyproject.toml, and
the document draws exactly the rooms the contracts name, in their order."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_the_imports_keep_every_contract():
    # Its own process: import-linter configures logging, which would silence the app's
    # loggers for the tests that run after this one.
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


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
