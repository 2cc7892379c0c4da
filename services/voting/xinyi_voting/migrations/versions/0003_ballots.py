"""Assemblies' ballots: questions, the roll published and frozen, votes with receipts (a changed
vote supersedes, never overwrites), and the published result."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE ballots ADD COLUMN description text NOT NULL DEFAULT '';
        ALTER TABLE ballots ADD COLUMN questions jsonb NOT NULL DEFAULT '[]';
        ALTER TABLE ballots ADD COLUMN created_by uuid;
        ALTER TABLE ballots ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
        ALTER TABLE ballots ADD COLUMN announced_at timestamptz;
        ALTER TABLE ballots ADD COLUMN voting_opens_at timestamptz;
        ALTER TABLE ballots ADD COLUMN voting_closes_at timestamptz;
        ALTER TABLE ballots ADD COLUMN objection_days integer NOT NULL DEFAULT 7;
        ALTER TABLE ballots ADD COLUMN closed_at timestamptz;
        ALTER TABLE ballots ADD COLUMN objections_until timestamptz;
        ALTER TABLE ballots ADD COLUMN finalized_at timestamptz;
        ALTER TABLE ballots ADD COLUMN roll_as_of timestamptz;
        ALTER TABLE ballots ADD COLUMN cancelled_reason text NOT NULL DEFAULT '';
        ALTER TABLE ballots ADD COLUMN voter_secret bytea;
        ALTER TABLE ballots ADD COLUMN result_json text;
        CREATE TABLE roll_units (
            estate_id uuid NOT NULL,
            ballot_id uuid NOT NULL,
            unit_id uuid NOT NULL,
            building varchar(100) NOT NULL,
            number varchar(100) NOT NULL,
            area_centi_m2 bigint NOT NULL CHECK (area_centi_m2 >= 0),
            owner_ids text[] NOT NULL,
            PRIMARY KEY (estate_id, ballot_id, unit_id),
            FOREIGN KEY (estate_id, ballot_id) REFERENCES ballots (estate_id, ballot_id)
        );
        CREATE TABLE roll_voters (
            estate_id uuid NOT NULL,
            ballot_id uuid NOT NULL,
            owner_id text NOT NULL,
            user_id uuid NOT NULL,
            PRIMARY KEY (estate_id, ballot_id, owner_id),
            FOREIGN KEY (estate_id, ballot_id) REFERENCES ballots (estate_id, ballot_id)
        );
        CREATE INDEX roll_voters_by_user ON roll_voters (estate_id, ballot_id, user_id);
        CREATE TABLE votes (
            estate_id uuid NOT NULL,
            ballot_id uuid NOT NULL,
            receipt_code varchar(40) NOT NULL,
            person_key text NOT NULL,
            voter_user_id uuid NOT NULL,
            channel varchar(20) NOT NULL DEFAULT 'online',
            choices jsonb NOT NULL,
            cast_at timestamptz NOT NULL,
            superseded_by varchar(40),
            PRIMARY KEY (estate_id, ballot_id, receipt_code),
            FOREIGN KEY (estate_id, ballot_id) REFERENCES ballots (estate_id, ballot_id)
        );
        CREATE UNIQUE INDEX votes_one_per_person
            ON votes (estate_id, ballot_id, person_key) WHERE superseded_by IS NULL
        """
    )
    for table in ("roll_units", "roll_voters", "votes"):
        execute_script(estate_rls_sql(table))
