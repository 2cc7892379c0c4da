"""Merged courtyards as the ledger knows them (from identity's estates_merged), and the shares of
the costs they split by area."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE management_groups (
            estate_id uuid NOT NULL,
            group_id uuid NOT NULL,
            name varchar(200) NOT NULL,
            members uuid[] NOT NULL,
            PRIMARY KEY (estate_id)
        );
        CREATE TABLE shared_cost_shares (
            estate_id uuid NOT NULL,
            cost_id uuid NOT NULL,
            group_id uuid NOT NULL,
            total_fen bigint NOT NULL CHECK (total_fen > 0),
            payee varchar(200) NOT NULL,
            purpose text NOT NULL,
            area_centi_m2 bigint NOT NULL,
            group_area_centi_m2 bigint NOT NULL CHECK (group_area_centi_m2 > 0),
            share_fen bigint NOT NULL,
            disbursement_id uuid,
            requested_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, cost_id)
        )
        """
    )
    for table in ("management_groups", "shared_cost_shares"):
        execute_script(estate_rls_sql(table))
