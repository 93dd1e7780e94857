from piccolo.conf.apps import AppConfig

from app.emulator.identity import IDENTITY_TABLES
from app.emulator.tables import PLATFORM_TABLES
from app.resources import MIGRATIONS

APP_CONFIG = AppConfig(
    app_name="emulator",
    migrations_folder_path=MIGRATIONS / "emulator",
    table_classes=[*IDENTITY_TABLES, *PLATFORM_TABLES],
    migration_dependencies=[],
    commands=[],
)
