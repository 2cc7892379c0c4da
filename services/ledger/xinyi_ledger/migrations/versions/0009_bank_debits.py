"""Debits the bank makes on its own: an account for those awaiting ratification (1190), one for
bank charges and other debits (5090) in every estate's chart, and disbursements of origin
"bank_debit" that the approving body ratifies after the fact."""

from alembic import op

from xinyi_kit.schema import execute_script

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE disbursements ADD COLUMN origin varchar(20) NOT NULL DEFAULT 'request'
            CHECK (origin IN ('request', 'bank_debit'));
        ALTER TABLE disbursements ADD COLUMN suspense_entry_id uuid
        """
    )
    # Estates whose books are open already gain the two accounts (new estates get them with
    # the default chart). A data fix across estates states its system scope.
    op.execute("SELECT set_config('xinyi.scope', 'system', true)")
    op.execute(
        """
        INSERT INTO accounts (estate_id, code, name, type)
        SELECT e.estate_id, a.code, a.name, a.type
        FROM (SELECT DISTINCT estate_id FROM accounts) e
        CROSS JOIN (VALUES ('1190', '待追认银行扣款', 1), ('5090', '银行手续费及其他扣款', 4))
            AS a (code, name, type)
        ON CONFLICT DO NOTHING
        """
    )
    op.execute("SELECT set_config('xinyi.scope', '', true)")
