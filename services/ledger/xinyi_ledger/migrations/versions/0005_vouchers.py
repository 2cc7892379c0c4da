"""Vouchers: one metadata row per file of an estate, keyed by the file's sha256; the files
themselves live in the voucher store (disk or S3), content-addressed."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE vouchers (
            estate_id uuid NOT NULL,
            sha256 char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            kind smallint NOT NULL CHECK (kind BETWEEN 1 AND 6),
            media_type varchar(40) NOT NULL,
            size bigint NOT NULL CHECK (size > 0),
            filename varchar(255) NOT NULL DEFAULT '',
            uploaded_at timestamptz NOT NULL,
            uploaded_by uuid NOT NULL,
            redacted_sha256 char(64) CHECK (redacted_sha256 ~ '^[0-9a-f]{64}$'),
            redacted_media_type varchar(40),
            redacted_size bigint,
            payroll_totals jsonb NOT NULL DEFAULT '{}'::jsonb,
            PRIMARY KEY (estate_id, sha256),
            CHECK (redacted_sha256 IS NULL OR redacted_sha256 <> sha256),
            CHECK ((redacted_sha256 IS NULL) = (redacted_media_type IS NULL))
        );
        CREATE INDEX vouchers_by_kind ON vouchers (estate_id, kind, uploaded_at DESC)
        """
    )
    execute_script(estate_rls_sql("vouchers"))
