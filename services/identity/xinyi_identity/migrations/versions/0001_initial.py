"""Users, role grants, estates, signing keys, and the kit's tables."""

from xinyi_kit.schema import execute_script, kit_ddl

revision = "0001"
down_revision = None


def upgrade() -> None:
    execute_script(kit_ddl())
    execute_script(
        """
        CREATE TABLE users (
            user_id uuid PRIMARY KEY,
            username varchar(100) NOT NULL UNIQUE,
            display_name varchar(200) NOT NULL,
            password_hash text NOT NULL,
            created_at timestamptz NOT NULL
        );
        CREATE TABLE role_grants (
            grant_id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (user_id),
            role varchar(50) NOT NULL,
            estate_id uuid,
            community_id uuid
        );
        CREATE INDEX role_grants_user ON role_grants (user_id);
        CREATE TABLE estates (
            estate_id uuid PRIMARY KEY,
            name varchar(200) NOT NULL,
            community_id uuid,
            address varchar(500) NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL
        );
        CREATE TABLE refresh_tokens (
            token_sha256 bytea PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (user_id),
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz
        );
        CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
        CREATE TABLE signing_keys (
            kid varchar(32) PRIMARY KEY,
            private_pem text NOT NULL,
            public_jwk jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            retired_at timestamptz
        );
        """
    )
