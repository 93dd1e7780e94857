from piccolo.conf.apps import AppConfig

from app.db.tables import (
    AuthSession,
    Creator,
    DuplicatePayment,
    Image,
    InsightDay,
    Link,
    MoneyAudit,
    PlatformConfig,
    ReconcileClock,
    Unlock,
    WebhookEvent,
    WhopSweep,
)
from app.resources import MIGRATIONS

APP_CONFIG = AppConfig(
    app_name="app",
    migrations_folder_path=MIGRATIONS,
    table_classes=[
        Creator,
        Link,
        AuthSession,
        Unlock,
        WebhookEvent,
        PlatformConfig,
        DuplicatePayment,
        WhopSweep,
        MoneyAudit,
        ReconcileClock,
        InsightDay,
        Image,
    ],
    migration_dependencies=[],
    commands=[],
)
