"""The chart of accounts, and the kit's tables."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script, kit_ddl

revision = "0001"
down_revision = None


def upgrade() -> None:
    execute_script(kit_ddl())
    execute_script(
        """
        CREATE TABLE accounts (
            estate_id uuid NOT NULL,
            code varchar(20) NOT NULL,
            name varchar(100) NOT NULL,
            type smallint NOT NULL CHECK (type BETWEEN 1 AND 5),
            PRIMARY KEY (estate_id, code)
        );
        """
    )
    execute_script(estate_rls_sql("accounts"))
