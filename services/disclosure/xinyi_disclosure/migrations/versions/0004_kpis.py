"""KPIs: each estate's community (to sum a community's estates) and the baseline its onboarding
case recorded."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE estate_overview ADD COLUMN community_id uuid;
        CREATE TABLE baselines (
            estate_id uuid NOT NULL PRIMARY KEY,
            case_id uuid NOT NULL,
            arrangement varchar(20) NOT NULL,
            payment_rate_permille integer NOT NULL,
            open_disputes integer NOT NULL,
            satisfaction_permille integer NOT NULL
        )
        """
    )
    execute_script(estate_rls_sql("baselines"))
