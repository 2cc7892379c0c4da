"""Owners' voice: suggestions, complaints and inquiries with their append-only timelines and
photos (bytes kept here, by sha256), and satisfaction surveys with one answer per person."""

from alembic import op

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0004"
down_revision = "0003"

TABLES = (
    "suggestions",
    "suggestion_steps",
    "voice_photos",
    "suggestion_photos",
    "surveys",
    "survey_answers",
)
STATES = "'submitted', 'answered', 'committed', 'rectified', 'confirmed', 'reopened'"


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE suggestions (
            estate_id uuid NOT NULL REFERENCES estates (estate_id),
            suggestion_id uuid NOT NULL,
            kind varchar(20) NOT NULL CHECK (kind IN ('suggestion', 'complaint', 'inquiry')),
            subject_ref varchar(100) NOT NULL DEFAULT '',
            title varchar(200) NOT NULL,
            body text NOT NULL,
            state varchar(20) NOT NULL CHECK (state IN ({STATES})),
            submitter_user_id uuid NOT NULL,
            submitter_role varchar(40) NOT NULL,
            submitted_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            due_on date,
            due_at timestamptz,
            PRIMARY KEY (estate_id, suggestion_id),
            CHECK ((kind = 'inquiry') = (subject_ref <> '')),
            CHECK ((due_on IS NULL) = (due_at IS NULL))
        );
        CREATE INDEX suggestions_by_time ON suggestions (estate_id, submitted_at DESC);
        CREATE INDEX suggestions_overdue ON suggestions (estate_id, due_at)
            WHERE state = 'committed';
        CREATE TABLE suggestion_steps (
            estate_id uuid NOT NULL,
            suggestion_id uuid NOT NULL,
            seq integer NOT NULL CHECK (seq >= 1),
            state varchar(20) NOT NULL CHECK (state IN ({STATES})),
            at timestamptz NOT NULL,
            by_user_id uuid NOT NULL,
            by_role varchar(40) NOT NULL,
            by_name varchar(200) NOT NULL DEFAULT '',
            text text NOT NULL DEFAULT '',
            due_on date,
            PRIMARY KEY (estate_id, suggestion_id, seq),
            FOREIGN KEY (estate_id, suggestion_id) REFERENCES suggestions (estate_id, suggestion_id)
        );
        CREATE TABLE voice_photos (
            estate_id uuid NOT NULL,
            sha256 char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{{64}}$'),
            media_type varchar(40) NOT NULL
                CHECK (media_type IN ('image/jpeg', 'image/png', 'image/webp')),
            size integer NOT NULL CHECK (size > 0),
            content bytea NOT NULL,
            PRIMARY KEY (estate_id, sha256),
            CHECK (size = octet_length(content))
        );
        CREATE TABLE suggestion_photos (
            estate_id uuid NOT NULL,
            suggestion_id uuid NOT NULL,
            sha256 char(64) NOT NULL,
            added_at timestamptz NOT NULL,
            added_by_user_id uuid NOT NULL,
            added_by_role varchar(40) NOT NULL,
            PRIMARY KEY (estate_id, suggestion_id, sha256),
            FOREIGN KEY (estate_id, suggestion_id)
                REFERENCES suggestions (estate_id, suggestion_id),
            FOREIGN KEY (estate_id, sha256) REFERENCES voice_photos (estate_id, sha256)
        );
        CREATE TABLE surveys (
            estate_id uuid NOT NULL REFERENCES estates (estate_id),
            survey_id uuid NOT NULL,
            title varchar(200) NOT NULL,
            description text NOT NULL DEFAULT '',
            questions jsonb NOT NULL,
            published_at timestamptz NOT NULL,
            published_by uuid NOT NULL,
            published_by_role varchar(40) NOT NULL,
            closes_at timestamptz NOT NULL,
            closed_at timestamptz,
            PRIMARY KEY (estate_id, survey_id),
            CHECK (closes_at > published_at)
        );
        CREATE INDEX surveys_by_time ON surveys (estate_id, published_at DESC);
        CREATE TABLE survey_answers (
            estate_id uuid NOT NULL,
            survey_id uuid NOT NULL,
            user_id uuid NOT NULL,
            answers jsonb NOT NULL,
            answered_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, survey_id, user_id),
            FOREIGN KEY (estate_id, survey_id) REFERENCES surveys (estate_id, survey_id)
        )
        """
    )
    for table in TABLES:
        execute_script(estate_rls_sql(table))
    # The timeline is what the estate was told, by whom and when: it is never edited.
    op.execute(
        """
        CREATE FUNCTION suggestion_steps_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'a suggestion''s timeline is append-only';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER suggestion_steps_no_change BEFORE UPDATE OR DELETE ON suggestion_steps "
        "FOR EACH ROW EXECUTE FUNCTION suggestion_steps_append_only()"
    )
