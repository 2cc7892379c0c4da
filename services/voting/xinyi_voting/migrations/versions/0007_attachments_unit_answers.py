"""A ballot's attachments (the documents its questions decide on), and survey answers one per
unit: an owner answers for each unit they hold (co-owners share the unit's one answer); someone
who holds none, a tenant, answers once as themselves."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE ballot_attachments (
            estate_id uuid NOT NULL,
            ballot_id uuid NOT NULL,
            sha256 char(64) NOT NULL,
            filename varchar(255) NOT NULL,
            content_type varchar(50) NOT NULL,
            size integer NOT NULL,
            content bytea NOT NULL,
            added_by uuid NOT NULL,
            added_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, ballot_id, sha256),
            FOREIGN KEY (estate_id, ballot_id) REFERENCES ballots (estate_id, ballot_id)
        );
        ALTER TABLE survey_answers ADD COLUMN respondent varchar(60);
        UPDATE survey_answers SET respondent = 'user:' || user_id::text;
        ALTER TABLE survey_answers ALTER COLUMN respondent SET NOT NULL;
        ALTER TABLE survey_answers DROP CONSTRAINT survey_answers_pkey;
        ALTER TABLE survey_answers ADD PRIMARY KEY (estate_id, survey_id, respondent)
        """
    )
    execute_script(estate_rls_sql("ballot_attachments"))
