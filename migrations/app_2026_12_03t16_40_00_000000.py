"""Price bounds and the minimum fee per currency: `currency_rule`, one row per currency.

`platform_config` held one minimum price, maximum price and minimum fee for every currency,
in "minor units" of none in particular: 100 is $1.00 but ¥100 (about 65 cents). Each
currency now has its own row, in its own minor units, and says whether creators may sell in
it. The currencies allowed before keep exactly the bounds they had (those values were set
in dollars, euros and pounds alike); usd, eur, gbp, cad, aud and jpy get rows with sensible
bounds, allowed only where they were. `platform_config` keeps the percentage fee and the
default currency, and gains `three_decimal_currencies`: whether currencies with three
decimals (KWD, BHD, …) may be allowed at all (off: Whop's handling of them is unconfirmed).

The four old columns (`allowed_currencies`, `min_price_cents`, `max_price_cents`,
`fee_min_cents`) are no longer read, but stay, with their values, so that processes of the
version before, still running during a rolling restart after `linkmint migrate`, keep
reading the money rules they know. Only their CHECK, which tied the default currency to
`allowed_currencies`, goes. A later release drops them (`DROP COLUMN IF EXISTS`: a database
migrated by an earlier copy of this migration has lost them already).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T16:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "currency_rule: allowed currencies, price bounds and minimum fee per currency"


class RawTable(Table, tablename="platform_config"):
    pass


FORWARDS = [
    "CREATE TABLE currency_rule ("
    " currency varchar(3) PRIMARY KEY CHECK (currency ~ '^[a-z]{{3}}$'),"
    " allowed boolean NOT NULL DEFAULT false,"
    " min_price_minor integer NOT NULL CHECK (min_price_minor > 0),"
    " max_price_minor integer NOT NULL,"
    " fee_min_minor integer NOT NULL DEFAULT 0 CHECK (fee_min_minor >= 0),"
    " updated_at timestamptz NOT NULL DEFAULT now(),"
    " CONSTRAINT currency_rule_bounds CHECK ("
    "max_price_minor >= min_price_minor AND fee_min_minor < min_price_minor))",
    # The currencies allowed so far keep their bounds, exactly.
    "INSERT INTO currency_rule (currency, allowed, min_price_minor, max_price_minor, "
    "fee_min_minor) SELECT DISTINCT lower(c), true, min_price_cents, max_price_cents, "
    "least(fee_min_cents, min_price_cents - 1) "
    "FROM platform_config, unnest(allowed_currencies) AS c WHERE lower(c) ~ '^[a-z]{{3}}$'",
    # Ready to allow: ¥100 is about the smallest price that covers a card fee.
    "INSERT INTO currency_rule (currency, min_price_minor, max_price_minor, fee_min_minor) "
    "VALUES ('usd', 100, 100000, 50), ('eur', 100, 100000, 50), ('gbp', 100, 100000, 50), "
    "('cad', 100, 100000, 50), ('aud', 100, 100000, 50), ('jpy', 100, 150000, 75) "
    "ON CONFLICT (currency) DO NOTHING",
    "ALTER TABLE platform_config DROP CONSTRAINT platform_config_valid",
    "ALTER TABLE platform_config "
    "ADD COLUMN three_decimal_currencies boolean NOT NULL DEFAULT false",
    "ALTER TABLE platform_config ADD CONSTRAINT platform_config_valid CHECK ("
    "fee_bps BETWEEN 0 AND 9999 AND default_currency ~ '^[a-z]{{3}}$')",
]

BACKWARDS = [
    "ALTER TABLE platform_config DROP CONSTRAINT platform_config_valid",
    "ALTER TABLE platform_config DROP COLUMN three_decimal_currencies",
    "ALTER TABLE platform_config ADD COLUMN IF NOT EXISTS allowed_currencies varchar(3)[] "
    "NOT NULL DEFAULT ARRAY['usd'], ADD COLUMN IF NOT EXISTS fee_min_cents integer NOT NULL "
    "DEFAULT 50, ADD COLUMN IF NOT EXISTS min_price_cents integer NOT NULL DEFAULT 100, "
    "ADD COLUMN IF NOT EXISTS max_price_cents integer NOT NULL DEFAULT 100000",
    # One set of bounds for all: the default currency's.
    "UPDATE platform_config p SET fee_min_cents = r.fee_min_minor, "
    "min_price_cents = r.min_price_minor, max_price_cents = r.max_price_minor "
    "FROM currency_rule r WHERE r.currency = p.default_currency",
    "UPDATE platform_config SET allowed_currencies = ARRAY(SELECT currency FROM currency_rule "
    "WHERE allowed ORDER BY currency) || ARRAY[default_currency]::varchar(3)[]",
    "UPDATE platform_config SET allowed_currencies = ARRAY(SELECT DISTINCT unnest("
    "allowed_currencies) ORDER BY 1)",
    "ALTER TABLE platform_config ADD CONSTRAINT platform_config_valid CHECK ("
    "fee_bps BETWEEN 0 AND 9999 AND fee_min_cents >= 0 AND min_price_cents > 0 "
    "AND max_price_cents >= min_price_cents AND default_currency = ANY(allowed_currencies))",
    "DROP TABLE currency_rule",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="app", description=DESCRIPTION)

    async def run():
        for statement in FORWARDS:
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in BACKWARDS:
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
