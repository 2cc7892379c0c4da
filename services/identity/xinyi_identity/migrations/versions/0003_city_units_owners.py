"""The city (districts, streets, communities), companies, estates' units and owners over time,
role scopes, sign-in protection, TOTP and device keys."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE users
            ADD COLUMN phone varchar(20) UNIQUE,
            ADD COLUMN totp_secret text,
            ADD COLUMN totp_pending text,
            ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;
        CREATE TABLE login_throttle (
            login varchar(100) PRIMARY KEY,
            failures integer NOT NULL DEFAULT 0,
            locked_until timestamptz,
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE districts (
            district_id uuid PRIMARY KEY,
            name varchar(100) NOT NULL UNIQUE
        );
        CREATE TABLE streets (
            street_id uuid PRIMARY KEY,
            district_id uuid NOT NULL REFERENCES districts (district_id),
            name varchar(100) NOT NULL,
            UNIQUE (district_id, name)
        );
        CREATE TABLE communities (
            community_id uuid PRIMARY KEY,
            street_id uuid NOT NULL REFERENCES streets (street_id),
            name varchar(100) NOT NULL,
            UNIQUE (street_id, name)
        );
        CREATE TABLE companies (
            company_id uuid PRIMARY KEY,
            name varchar(200) NOT NULL,
            credit_code char(18) NOT NULL UNIQUE,
            created_at timestamptz NOT NULL
        );
        CREATE TABLE management_groups (
            group_id uuid PRIMARY KEY,
            name varchar(200) NOT NULL
        );
        ALTER TABLE estates
            ADD CONSTRAINT estates_community FOREIGN KEY (community_id)
                REFERENCES communities (community_id),
            ADD COLUMN management_group_id uuid REFERENCES management_groups (group_id),
            ADD COLUMN approving_body_kind smallint NOT NULL DEFAULT 0,
            ADD COLUMN approving_body_name varchar(200) NOT NULL DEFAULT '',
            ADD COLUMN approving_body_formed_on date;
        CREATE INDEX estates_by_community ON estates (community_id);
        CREATE TABLE company_assignments (
            estate_id uuid NOT NULL REFERENCES estates (estate_id),
            company_id uuid NOT NULL REFERENCES companies (company_id),
            starts_on date NOT NULL,
            ends_on date,
            PRIMARY KEY (estate_id, starts_on),
            CHECK (ends_on IS NULL OR ends_on > starts_on)
        );
        CREATE INDEX company_assignments_by_company ON company_assignments (company_id);
        ALTER TABLE role_grants
            ADD COLUMN company_id uuid REFERENCES companies (company_id),
            ADD COLUMN granted_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN revoked_at timestamptz,
            ADD COLUMN granted_by uuid;
        CREATE TABLE device_keys (
            key_id varchar(64) PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (user_id),
            label varchar(100) NOT NULL,
            public_jwk jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            revoked_at timestamptz
        );
        CREATE INDEX device_keys_by_user ON device_keys (user_id);
        CREATE TABLE buildings (
            estate_id uuid NOT NULL,
            building_id uuid NOT NULL,
            name varchar(50) NOT NULL,
            PRIMARY KEY (estate_id, building_id),
            UNIQUE (estate_id, name)
        );
        CREATE TABLE units (
            estate_id uuid NOT NULL,
            unit_id uuid NOT NULL,
            building_id uuid NOT NULL,
            number varchar(50) NOT NULL,
            unit_type varchar(20) NOT NULL,
            area_centi_m2 bigint NOT NULL CHECK (area_centi_m2 > 0),
            PRIMARY KEY (estate_id, unit_id),
            UNIQUE (estate_id, building_id, number),
            FOREIGN KEY (estate_id, building_id) REFERENCES buildings (estate_id, building_id)
        );
        CREATE TABLE owners (
            estate_id uuid NOT NULL,
            owner_id uuid NOT NULL,
            key varchar(200) NOT NULL,
            kind varchar(20) NOT NULL,
            name varchar(100) NOT NULL,
            phone varchar(20) NOT NULL DEFAULT '',
            id_number varchar(18) NOT NULL DEFAULT '',
            user_id uuid,
            PRIMARY KEY (estate_id, owner_id),
            UNIQUE (estate_id, key)
        );
        CREATE TABLE ownerships (
            estate_id uuid NOT NULL,
            unit_id uuid NOT NULL,
            owner_id uuid NOT NULL,
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            PRIMARY KEY (estate_id, unit_id, owner_id, valid_from),
            FOREIGN KEY (estate_id, unit_id) REFERENCES units (estate_id, unit_id),
            FOREIGN KEY (estate_id, owner_id) REFERENCES owners (estate_id, owner_id),
            CHECK (valid_to IS NULL OR valid_to > valid_from)
        );
        CREATE INDEX ownerships_current ON ownerships (estate_id, unit_id) WHERE valid_to IS NULL
        """
    )
    for table in ("buildings", "units", "owners", "ownerships"):
        execute_script(estate_rls_sql(table))
