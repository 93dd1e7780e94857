from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="emulator",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "emulator",
    table_classes=[],
    migration_dependencies=[],
    commands=[],
)
