"""The in-app inbox, and the kit's tables."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script, kit_ddl

revision = "0001"
down_revision = None


def upgrade() -> None:
    execute_script(kit_ddl())
    execute_script(
        """
        CREATE TABLE inbox (
            estate_id uuid NOT NULL,
            message_id uuid NOT NULL,
            user_id uuid NOT NULL,
            kind varchar(50) NOT NULL,
            title varchar(200) NOT NULL,
            body text NOT NULL,
            read boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, message_id)
        );
        CREATE INDEX inbox_by_user ON inbox (user_id, created_at DESC);
        """
    )
    execute_script(estate_rls_sql("inbox"))
