"""Corrections of fees: an assessment reversed stays on record, marked by its reversal (the one
change its row ever takes), and the month can be assessed again; settlements undone by a reversal
are negative rows of that entry. A settlement belongs to whichever assessment of its unit and month
stands, so it no longer has a foreign key to one assessment row."""

from alembic import op

from xinyi_kit.schema import execute_script

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE fee_assessments ADD COLUMN reversed_by uuid;
        ALTER TABLE fee_settlements DROP CONSTRAINT fee_settlements_estate_id_period_unit_id_fkey;
        ALTER TABLE fee_assessments DROP CONSTRAINT fee_assessments_pkey;
        ALTER TABLE fee_assessments ADD PRIMARY KEY (estate_id, period, unit_id, entry_id);
        CREATE UNIQUE INDEX fee_assessments_live
            ON fee_assessments (estate_id, period, unit_id) WHERE reversed_by IS NULL;
        ALTER TABLE fee_settlements DROP CONSTRAINT fee_settlements_amount_fen_check;
        ALTER TABLE fee_settlements ADD CONSTRAINT fee_settlements_amount_fen_check
            CHECK (amount_fen <> 0);
        DROP TRIGGER fee_assessments_immutable ON fee_assessments
        """
    )
    op.execute(
        """
        CREATE FUNCTION fee_assessment_history() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.reversed_by IS NULL AND NEW.reversed_by IS NOT NULL
               AND to_jsonb(NEW) - 'reversed_by' = to_jsonb(OLD) - 'reversed_by'
               AND EXISTS (
                   SELECT 1 FROM entries e
                   WHERE e.estate_id = NEW.estate_id AND e.entry_id = NEW.reversed_by
                     AND e.reverses_entry_id = NEW.entry_id
               ) THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'fee assessments are history: only a reversal entry of their '
                            'assessment marks them withdrawn';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER fee_assessments_history BEFORE UPDATE OR DELETE ON fee_assessments "
        "FOR EACH ROW EXECUTE FUNCTION fee_assessment_history()"
    )
