"""What an installed Linkmint reads, and that the wheel carries it.

The real proof is .ci/wheel-check (build the wheel, install it outside the checkout, migrate,
serve); these tests keep the build configuration and the lookups honest on every run.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from piccolo.conf.apps import Finder

from app import config
from app.config import settings_from
from app.resources import MIGRATIONS, STATIC, TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
CREDENTIALS = {
    "SECRET_KEY": "k" * 40,
    "WHOP_API_KEY": "apik_x",
    "WHOP_CLIENT_ID": "app_x",
    "WHOP_CLIENT_SECRET": "s",
    "WHOP_PARENT_COMPANY_ID": "biz_x",
    "WHOP_WEBHOOK_SECRET": "ws_x",
}


def shipped(package: str, folder: Path) -> set[str]:
    """The files under `folder` that package-data puts in the wheel for `package`."""
    patterns = SETUPTOOLS["package-data"][package]
    return {
        file.relative_to(folder).as_posix()
        for pattern in patterns
        for file in folder.glob(pattern)
        if file.is_file()
    }


def test_the_editable_install_maps_the_packaged_folders_onto_the_checkout():
    assert TEMPLATES == ROOT / "templates"
    assert STATIC == ROOT / "static"
    assert MIGRATIONS == ROOT / "migrations"
    assert (TEMPLATES / "base.html").is_file()
    assert (STATIC / "css" / "app.css").is_file()


def test_the_wheel_lists_every_package_under_app():
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "app").rglob("__init__.py")
    }
    mapped = {  # the top-level folders mapped into app, and their own packages
        ".".join((name, *init.parent.relative_to(ROOT / folder).parts))
        for name, folder in SETUPTOOLS["package-dir"].items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert set(SETUPTOOLS["packages"]) == on_disk | mapped


def test_every_static_file_the_app_links_is_in_the_wheel():
    linked = set()
    for source in [*TEMPLATES.rglob("*.html"), *(ROOT / "app").rglob("*.py")]:
        linked |= set(re.findall(r"""asset\(\s*["']([^"']+)["']""", source.read_text()))
    assert linked, "no asset('…') found: the pattern no longer matches the templates"
    assert linked <= shipped("app.static", STATIC)


def test_the_wheel_leaves_out_the_sources_of_the_built_assets():
    files = shipped("app.static", STATIC)
    assert "payouts/dist/island.js" in files
    assert not any(f.startswith(("payouts/src/", "payouts/node_modules/")) for f in files)
    assert not {"payouts/package.json", "vendor/update.sh"} & files


def test_the_wheel_carries_the_emulator_assets_and_every_template():
    assert {"static/elements.js", "static/elements.css"} <= shipped(
        "app.emulator", ROOT / "app" / "emulator"
    )
    templates = shipped("app.templates", TEMPLATES)
    assert {"base.html", "emulator/authorize.html"} <= templates
    assert templates == {p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")}


def test_piccolo_reads_the_packaged_configuration_and_migrations():
    assert os.environ["PICCOLO_CONF"] == "app.piccolo_conf"
    finder = Finder()
    assert finder.get_piccolo_conf_module().__name__ == "app.piccolo_conf"
    folders = {app.app_name: Path(app.migrations_folder_path) for app in finder.get_app_configs()}
    assert folders == {"app": MIGRATIONS, "emulator": MIGRATIONS / "emulator"}
    assert any(MIGRATIONS.glob("app_*.py")) and any((MIGRATIONS / "emulator").glob("*_*.py"))


def test_var_dir_and_dotenv_are_the_working_directory_s(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert settings_from(CREDENTIALS).var_dir == tmp_path / "var"
    assert settings_from({**CREDENTIALS, "VAR_DIR": "state"}).var_dir == tmp_path / "state"

    (tmp_path / ".env").write_text("LOG_REPEAT_WINDOW=42\n")
    monkeypatch.delenv("LOG_REPEAT_WINDOW", raising=False)
    monkeypatch.setattr(config, "_loaded", None)
    assert config.load_settings().log_repeat_window == 42
