"""Proxies for one ballot, paper ballots entered with their scans, and petitions for an
extraordinary assembly."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE proxies (
            estate_id uuid NOT NULL,
            ballot_id uuid NOT NULL,
            proxy_id uuid NOT NULL,
            grantor_user_id uuid NOT NULL,
            grantor_username varchar(100) NOT NULL,
            proxy_username varchar(100) NOT NULL,
            state varchar(20) NOT NULL CHECK (state IN ('active', 'revoked')),
            granted_at timestamptz NOT NULL,
            revoked_at timestamptz,
            PRIMARY KEY (estate_id, ballot_id, proxy_id),
            FOREIGN KEY (estate_id, ballot_id) REFERENCES ballots (estate_id, ballot_id)
        );
        CREATE UNIQUE INDEX proxies_one_active
            ON proxies (estate_id, ballot_id, grantor_user_id) WHERE state = 'active';
        CREATE INDEX proxies_by_proxy ON proxies (estate_id, ballot_id, proxy_username);
        CREATE TABLE scans (
            estate_id uuid NOT NULL,
            ballot_id uuid NOT NULL,
            sha256 char(64) NOT NULL,
            content_type varchar(50) NOT NULL,
            size integer NOT NULL,
            content bytea NOT NULL,
            uploaded_by uuid NOT NULL,
            uploaded_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, ballot_id, sha256),
            FOREIGN KEY (estate_id, ballot_id) REFERENCES ballots (estate_id, ballot_id)
        );
        ALTER TABLE votes ADD COLUMN scan_sha256 char(64);
        ALTER TABLE ballots ADD COLUMN petition_id uuid;
        CREATE TABLE petitions (
            estate_id uuid NOT NULL REFERENCES estates (estate_id),
            petition_id uuid NOT NULL,
            title varchar(200) NOT NULL,
            reason text NOT NULL,
            created_by uuid NOT NULL,
            created_at timestamptz NOT NULL,
            state varchar(20) NOT NULL CHECK (state IN ('collecting', 'reached', 'answered')),
            total_headcount integer NOT NULL,
            reached_at timestamptz,
            ballot_id uuid,
            PRIMARY KEY (estate_id, petition_id)
        );
        CREATE TABLE petition_signatures (
            estate_id uuid NOT NULL,
            petition_id uuid NOT NULL,
            person_key text NOT NULL,
            user_id uuid NOT NULL,
            signed_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, petition_id, person_key),
            FOREIGN KEY (estate_id, petition_id) REFERENCES petitions (estate_id, petition_id)
        )
        """
    )
    for table in ("proxies", "scans", "petitions", "petition_signatures"):
        execute_script(estate_rls_sql(table))
