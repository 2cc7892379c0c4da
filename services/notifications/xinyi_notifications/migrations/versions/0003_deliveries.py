"""Who is who (a directory built from identity's events), messages once per event and recipient,
deliveries once per event, recipient and channel, preferences and webhook subscriptions."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0003"
down_revision = "0002"

ESTATE_TABLES = ("estates", "members", "unit_owners", "owner_users", "ballots", "deliveries")
ESTATE_TABLES += ("estate_webhooks",)


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE inbox ADD COLUMN source_key text NOT NULL DEFAULT '';
        ALTER TABLE inbox ADD COLUMN link text NOT NULL DEFAULT '';
        ALTER TABLE inbox ADD COLUMN urgent boolean NOT NULL DEFAULT false;
        ALTER TABLE inbox ADD COLUMN params jsonb NOT NULL DEFAULT '{}'::jsonb;
        ALTER TABLE inbox ADD COLUMN position bigint GENERATED ALWAYS AS IDENTITY;
        ALTER TABLE inbox ALTER COLUMN title TYPE varchar(300);
        CREATE UNIQUE INDEX inbox_once ON inbox (estate_id, source_key, user_id);
        DROP INDEX inbox_by_user;
        CREATE INDEX inbox_by_user ON inbox (user_id, position DESC);
        CREATE INDEX inbox_unread ON inbox (user_id) WHERE NOT read;

        CREATE TABLE estates (
            estate_id uuid PRIMARY KEY,
            name text NOT NULL DEFAULT '',
            community_id uuid,
            company_id uuid
        );
        CREATE TABLE members (
            estate_id uuid NOT NULL,
            user_id uuid NOT NULL,
            role text NOT NULL,
            PRIMARY KEY (estate_id, role, user_id)
        );
        -- Community-wide and company-wide grants: platform rows, not an estate's.
        CREATE TABLE scope_members (
            scope text NOT NULL,
            scope_id uuid NOT NULL,
            user_id uuid NOT NULL,
            role text NOT NULL,
            PRIMARY KEY (scope, scope_id, role, user_id)
        );
        CREATE TABLE unit_owners (
            estate_id uuid NOT NULL,
            unit_id uuid NOT NULL,
            owner_ids text[] NOT NULL,
            PRIMARY KEY (estate_id, unit_id)
        );
        CREATE TABLE owner_users (
            estate_id uuid NOT NULL,
            owner_id text NOT NULL,
            user_id uuid NOT NULL,
            PRIMARY KEY (estate_id, owner_id, user_id)
        );
        CREATE TABLE ballots (
            estate_id uuid NOT NULL,
            ballot_id uuid NOT NULL,
            title text NOT NULL DEFAULT '',
            state text NOT NULL,
            voting_closes_at timestamptz,
            closing_reminded boolean NOT NULL DEFAULT false,
            PRIMARY KEY (estate_id, ballot_id)
        );
        CREATE INDEX ballots_to_remind ON ballots (voting_closes_at)
            WHERE state = 'open' AND NOT closing_reminded;

        -- The user's own settings: not an estate's rows (a user may belong to several).
        CREATE TABLE contacts (
            user_id uuid PRIMARY KEY,
            email text NOT NULL DEFAULT '',
            phone text NOT NULL DEFAULT '',
            quiet_start varchar(5) NOT NULL DEFAULT '',
            quiet_end varchar(5) NOT NULL DEFAULT '',
            language varchar(5) NOT NULL DEFAULT 'zh'
        );
        CREATE TABLE kind_preferences (
            user_id uuid NOT NULL,
            kind text NOT NULL,
            channels text[] NOT NULL,
            digest boolean NOT NULL DEFAULT false,
            PRIMARY KEY (user_id, kind)
        );

        CREATE TABLE estate_webhooks (
            estate_id uuid NOT NULL,
            subscription_id uuid NOT NULL,
            url text NOT NULL,
            secret text NOT NULL,
            kinds text[] NOT NULL DEFAULT '{}',
            active boolean NOT NULL DEFAULT true,
            created_by uuid NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, subscription_id)
        );
        CREATE TABLE company_webhooks (
            company_id uuid NOT NULL,
            subscription_id uuid NOT NULL,
            url text NOT NULL,
            secret text NOT NULL,
            kinds text[] NOT NULL DEFAULT '{}',
            active boolean NOT NULL DEFAULT true,
            created_by uuid NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (company_id, subscription_id)
        );

        -- One row per (event, recipient, channel): the unique key is the exactly-once promise.
        CREATE TABLE deliveries (
            estate_id uuid NOT NULL,
            delivery_id uuid NOT NULL,
            source_key text NOT NULL,
            recipient text NOT NULL,
            channel text NOT NULL,
            kind text NOT NULL,
            address text NOT NULL,
            subject text NOT NULL,
            body_text text NOT NULL,
            body_html text NOT NULL DEFAULT '',
            payload jsonb NOT NULL DEFAULT '{}'::jsonb,
            priority smallint NOT NULL,
            -- pending, digest (held for the daily digest), sent, dead
            state text NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            last_error text NOT NULL DEFAULT '',
            next_attempt_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL,
            sent_at timestamptz,
            company_id uuid,
            PRIMARY KEY (estate_id, delivery_id),
            UNIQUE (estate_id, source_key, recipient, channel)
        );
        CREATE INDEX deliveries_due ON deliveries (channel, priority, next_attempt_at)
            WHERE state = 'pending';
        CREATE INDEX deliveries_digest ON deliveries (recipient, channel, next_attempt_at)
            WHERE state = 'digest';
        CREATE INDEX deliveries_dead ON deliveries (estate_id, created_at) WHERE state = 'dead';
        """
    )
    for table in ESTATE_TABLES:
        execute_script(estate_rls_sql(table))
