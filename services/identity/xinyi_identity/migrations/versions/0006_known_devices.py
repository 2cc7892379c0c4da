"""The browsers and apps each account has signed in from, so a new one can be announced."""

from xinyi_kit.schema import execute_script

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE known_devices (
            user_id uuid NOT NULL REFERENCES users (user_id),
            device_sha256 varchar(64) NOT NULL,
            first_seen timestamptz NOT NULL,
            last_seen timestamptz NOT NULL,
            PRIMARY KEY (user_id, device_sha256)
        );
        """
    )
