"""Known estates, ballots, and the kit's tables."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script, kit_ddl

revision = "0001"
down_revision = None


def upgrade() -> None:
    execute_script(kit_ddl())
    execute_script(
        """
        CREATE TABLE estates (
            estate_id uuid PRIMARY KEY,
            name varchar(200) NOT NULL
        );
        CREATE TABLE ballots (
            estate_id uuid NOT NULL REFERENCES estates (estate_id),
            ballot_id uuid NOT NULL,
            title varchar(200) NOT NULL,
            state varchar(20) NOT NULL,
            PRIMARY KEY (estate_id, ballot_id)
        );
        """
    )
    execute_script(estate_rls_sql("estates"))
    execute_script(estate_rls_sql("ballots"))
