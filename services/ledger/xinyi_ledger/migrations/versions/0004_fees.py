"""Property fees: units learnt from identity's events, rates per unit type, monthly assessments
per unit and the settlements that pay them (both append-only, like the journal)."""

from alembic import op

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0004"
down_revision = "0003"

TABLES = ("units", "fee_rates", "fee_assessments", "fee_settlements")


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE units (
            estate_id uuid NOT NULL,
            unit_id uuid NOT NULL,
            building varchar(100) NOT NULL,
            number varchar(100) NOT NULL,
            unit_type varchar(20) NOT NULL,
            area_centi_m2 bigint NOT NULL CHECK (area_centi_m2 >= 0),
            PRIMARY KEY (estate_id, unit_id)
        );
        CREATE TABLE fee_rates (
            estate_id uuid NOT NULL,
            unit_type varchar(20) NOT NULL,
            effective_from char(7) NOT NULL,
            rate_num bigint NOT NULL CHECK (rate_num >= 0),
            rate_den bigint NOT NULL CHECK (rate_den > 0),
            set_at timestamptz NOT NULL,
            set_by uuid,
            PRIMARY KEY (estate_id, unit_type, effective_from)
        );
        CREATE TABLE fee_assessments (
            estate_id uuid NOT NULL,
            period char(7) NOT NULL,
            unit_id uuid NOT NULL,
            unit_type varchar(20) NOT NULL,
            area_centi_m2 bigint NOT NULL,
            rate_num bigint NOT NULL,
            rate_den bigint NOT NULL,
            amount_fen bigint NOT NULL CHECK (amount_fen > 0),
            entry_id uuid NOT NULL,
            PRIMARY KEY (estate_id, period, unit_id),
            FOREIGN KEY (estate_id, unit_id) REFERENCES units (estate_id, unit_id),
            FOREIGN KEY (estate_id, entry_id) REFERENCES entries (estate_id, entry_id)
        );
        CREATE INDEX fee_assessments_by_unit ON fee_assessments (estate_id, unit_id, period);
        CREATE TABLE fee_settlements (
            estate_id uuid NOT NULL,
            entry_id uuid NOT NULL,
            unit_id uuid NOT NULL,
            period char(7) NOT NULL,
            amount_fen bigint NOT NULL CHECK (amount_fen > 0),
            PRIMARY KEY (estate_id, entry_id, unit_id, period),
            FOREIGN KEY (estate_id, period, unit_id)
                REFERENCES fee_assessments (estate_id, period, unit_id),
            FOREIGN KEY (estate_id, entry_id) REFERENCES entries (estate_id, entry_id)
        );
        CREATE INDEX fee_settlements_by_unit ON fee_settlements (estate_id, unit_id, period)
        """
    )
    for table in TABLES:
        execute_script(estate_rls_sql(table))
    # What was assessed and paid is history: corrections are new rows, never edits.
    for table in ("fee_assessments", "fee_settlements"):
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION journal_immutable()"
        )
