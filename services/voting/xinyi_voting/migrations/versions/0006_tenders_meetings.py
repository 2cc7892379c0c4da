"""Tenders with companies' sealed bids (one per company, replaced in place until close), and
monthly meetings with their work reports, minutes and the points raised (each may become one
suggestion)."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0006"
down_revision = "0005"

TABLES = ("tenders", "tender_bids", "meetings", "meeting_points")
TENDER_STATES = "'draft', 'open', 'closed', 'decided', 'cancelled'"
MEETING_STATES = "'scheduled', 'held', 'cancelled'"


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE tenders (
            estate_id uuid NOT NULL REFERENCES estates (estate_id),
            tender_id uuid NOT NULL,
            title varchar(200) NOT NULL,
            service_standard text NOT NULL,
            scope text NOT NULL,
            term_months integer NOT NULL CHECK (term_months BETWEEN 1 AND 120),
            closes_at timestamptz NOT NULL,
            state varchar(20) NOT NULL CHECK (state IN ({TENDER_STATES})),
            created_by uuid NOT NULL,
            created_by_role varchar(40) NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            published_at timestamptz,
            closed_at timestamptz,
            decided_at timestamptz,
            cancelled_at timestamptz,
            cancelled_reason text NOT NULL DEFAULT '',
            ballot_id uuid,
            chosen_bid_id uuid,
            PRIMARY KEY (estate_id, tender_id),
            CHECK ((state = 'draft') = (published_at IS NULL) OR state = 'cancelled'),
            CHECK ((state = 'decided') = (chosen_bid_id IS NOT NULL))
        );
        CREATE INDEX tenders_by_time ON tenders (estate_id, created_at DESC);
        CREATE INDEX tenders_open ON tenders (closes_at) WHERE state = 'open';
        CREATE INDEX tenders_by_id ON tenders (tender_id);
        CREATE TABLE tender_bids (
            estate_id uuid NOT NULL,
            tender_id uuid NOT NULL,
            bid_id uuid NOT NULL,
            company_id uuid NOT NULL,
            company_name varchar(200) NOT NULL,
            remuneration_ratio varchar(40) NOT NULL DEFAULT '',
            remuneration_monthly_fen bigint CHECK (remuneration_monthly_fen > 0),
            fee_rates jsonb NOT NULL,
            staffing jsonb NOT NULL,
            staffing_notes text NOT NULL DEFAULT '',
            references_text text NOT NULL DEFAULT '',
            attachments jsonb NOT NULL,
            submitted_by uuid NOT NULL,
            submitted_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            revision integer NOT NULL CHECK (revision >= 1),
            PRIMARY KEY (estate_id, tender_id, bid_id),
            UNIQUE (estate_id, tender_id, company_id),
            FOREIGN KEY (estate_id, tender_id) REFERENCES tenders (estate_id, tender_id),
            CHECK ((remuneration_ratio <> '') <> (remuneration_monthly_fen IS NOT NULL))
        );
        ALTER TABLE tenders ADD FOREIGN KEY (estate_id, tender_id, chosen_bid_id)
            REFERENCES tender_bids (estate_id, tender_id, bid_id);
        CREATE TABLE meetings (
            estate_id uuid NOT NULL REFERENCES estates (estate_id),
            meeting_id uuid NOT NULL,
            title varchar(200) NOT NULL,
            starts_at timestamptz NOT NULL,
            place varchar(200) NOT NULL,
            agenda jsonb NOT NULL,
            state varchar(20) NOT NULL CHECK (state IN ({MEETING_STATES})),
            scheduled_by uuid NOT NULL,
            scheduled_by_role varchar(40) NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            report text NOT NULL DEFAULT '',
            report_attachments jsonb NOT NULL DEFAULT '[]',
            report_posted_at timestamptz,
            report_posted_by_role varchar(40) NOT NULL DEFAULT '',
            minutes text NOT NULL DEFAULT '',
            minutes_published_at timestamptz,
            minutes_published_by_role varchar(40) NOT NULL DEFAULT '',
            cancelled_at timestamptz,
            cancelled_reason text NOT NULL DEFAULT '',
            PRIMARY KEY (estate_id, meeting_id),
            CHECK ((state = 'held') = (minutes_published_at IS NOT NULL))
        );
        CREATE INDEX meetings_by_time ON meetings (estate_id, starts_at DESC);
        CREATE TABLE meeting_points (
            estate_id uuid NOT NULL,
            meeting_id uuid NOT NULL,
            point_id varchar(10) NOT NULL,
            seq integer NOT NULL CHECK (seq >= 1),
            text text NOT NULL,
            suggestion_id uuid,
            PRIMARY KEY (estate_id, meeting_id, point_id),
            UNIQUE (estate_id, suggestion_id),
            FOREIGN KEY (estate_id, meeting_id) REFERENCES meetings (estate_id, meeting_id),
            FOREIGN KEY (estate_id, suggestion_id) REFERENCES suggestions (estate_id, suggestion_id)
        )
        """
    )
    for table in TABLES:
        execute_script(estate_rls_sql(table))
