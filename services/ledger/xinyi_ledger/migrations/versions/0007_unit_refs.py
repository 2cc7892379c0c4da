"""A secret per estate that turns unit ids into pseudonyms in the hashed journal, so entries can
be verified by every owner without telling them a named unit's arrears."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE estate_secrets (
            estate_id uuid PRIMARY KEY,
            unit_pepper bytea NOT NULL
        )
        """
    )
    execute_script(estate_rls_sql("estate_secrets"))
