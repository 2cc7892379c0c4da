"""KPIs: closed surveys' satisfaction (from voting's survey_closed), and the city's communities
with their streets (from identity's community_created, on the platform's key) to name them and
to sum a street's estates."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE survey_results (
            estate_id uuid NOT NULL,
            survey_id uuid NOT NULL,
            title text NOT NULL,
            question text NOT NULL,
            closed_at timestamptz NOT NULL,
            respondents integer NOT NULL,
            answered integer NOT NULL,
            satisfied integer NOT NULL CHECK (0 <= satisfied AND satisfied <= answered),
            PRIMARY KEY (estate_id, survey_id)
        );
        CREATE INDEX survey_results_by_time ON survey_results (estate_id, closed_at);
        CREATE TABLE communities (
            estate_id uuid NOT NULL,
            community_id uuid NOT NULL,
            name text NOT NULL,
            street_id uuid NOT NULL,
            street_name text NOT NULL,
            district_id uuid,
            district_name text NOT NULL,
            PRIMARY KEY (estate_id, community_id)
        );
        CREATE INDEX communities_by_street ON communities (street_id)
        """
    )
    for table in ("survey_results", "communities"):
        execute_script(estate_rls_sql(table))
