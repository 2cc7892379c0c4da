"""Budgets and their lines, the owners' decisions that concern the ledger, and disbursements
from the maintenance fund."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE disbursements ADD COLUMN maintenance_use_id varchar(64) NOT NULL DEFAULT '';
        CREATE TABLE decisions (
            estate_id uuid NOT NULL,
            subject varchar(200) NOT NULL,
            approved boolean NOT NULL,
            ballot_id uuid,
            decided_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, subject)
        );
        CREATE TABLE budgets (
            estate_id uuid NOT NULL,
            budget_id uuid NOT NULL,
            year integer NOT NULL,
            state varchar(10) NOT NULL,
            created_at timestamptz NOT NULL,
            approved_at timestamptz,
            PRIMARY KEY (estate_id, budget_id),
            UNIQUE (estate_id, year)
        );
        CREATE TABLE budget_lines (
            estate_id uuid NOT NULL,
            budget_id uuid NOT NULL,
            line_id varchar(64) NOT NULL,
            name varchar(200) NOT NULL,
            expense_code varchar(20) NOT NULL,
            amount_fen bigint NOT NULL CHECK (amount_fen >= 0),
            PRIMARY KEY (estate_id, budget_id, line_id),
            FOREIGN KEY (estate_id, budget_id) REFERENCES budgets (estate_id, budget_id)
        )
        """
    )
    for table in ("decisions", "budgets", "budget_lines"):
        execute_script(estate_rls_sql(table))
