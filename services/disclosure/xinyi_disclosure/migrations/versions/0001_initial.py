"""The estate overview read model, and the kit's tables."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script, kit_ddl

revision = "0001"
down_revision = None


def upgrade() -> None:
    execute_script(kit_ddl())
    execute_script(
        """
        CREATE TABLE estate_overview (
            estate_id uuid PRIMARY KEY,
            name varchar(200) NOT NULL DEFAULT '',
            books_open boolean NOT NULL DEFAULT false,
            account_count integer NOT NULL DEFAULT 0,
            registered_at timestamptz
        );
        """
    )
    execute_script(estate_rls_sql("estate_overview"))
