"""The monthly meetings, for the report: scheduled, cancelled or held in the month."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE meetings (
            estate_id uuid NOT NULL,
            meeting_id uuid NOT NULL,
            title text NOT NULL,
            state varchar(20) NOT NULL,
            starts_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, meeting_id)
        )
        """
    )
    execute_script(estate_rls_sql("meetings"))
