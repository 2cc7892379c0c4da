"""What Civil Code art. 943 asks the company to disclose, kept per topic with every version."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE estate_disclosures (
            estate_id uuid NOT NULL,
            topic varchar(40) NOT NULL,
            version integer NOT NULL,
            content text NOT NULL,
            saved_by uuid NOT NULL,
            saved_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, topic, version)
        )
        """
    )
    execute_script(estate_rls_sql("estate_disclosures"))
