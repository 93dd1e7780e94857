from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.emulator.identity import IDENTITY_TABLES
from app.emulator.tables import PLATFORM_TABLES

APP_CONFIG = AppConfig(
    app_name="emulator",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "emulator",
    table_classes=[*IDENTITY_TABLES, *PLATFORM_TABLES],
    migration_dependencies=[],
    commands=[],
)
