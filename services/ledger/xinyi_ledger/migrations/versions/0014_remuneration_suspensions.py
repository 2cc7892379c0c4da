"""Days on which no remuneration accrues: from when an outgoing company refused to hand over the
estate until the handover took place (Civil Code art. 949)."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE remuneration_suspensions (
            estate_id uuid NOT NULL,
            handover_id uuid NOT NULL,
            company_id uuid NOT NULL,
            from_day date NOT NULL,
            until_day date,
            PRIMARY KEY (estate_id, handover_id),
            CHECK (until_day IS NULL OR until_day >= from_day)
        )
        """
    )
    execute_script(estate_rls_sql("remuneration_suspensions"))
