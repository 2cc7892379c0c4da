"""Busy estates left out of a group: `posting_lock` takes `wait`; without it an estate whose
chain another transaction holds is skipped (SKIP LOCKED) rather than waited for, so a group's
other estates are not held up behind it (a month's fee assessment, a period closing)."""

from alembic import op

revision = "0019"
down_revision = "0018"


def upgrade() -> None:
    op.execute("DROP FUNCTION posting_lock(uuid[], uuid[], text[])")
    # Estates are locked in one order (sorted), so two groups never wait on each other in a
    # cycle. A skipped estate is answered with a NULL head_index. The idempotency records are
    # read after the chain's lock: every posting that could write one of them holds that lock,
    # so what is read is what counts.
    op.execute(
        """
        CREATE FUNCTION posting_lock(
            estates uuid[], key_estates uuid[], keys text[], wait boolean
        )
        RETURNS TABLE (
            head_estate uuid, head_index bigint, head_hash bytea, closed_periods text[],
            account_codes text[], ratio_terms boolean, keys_done text[], digests_done bytea[],
            responses_done bytea[]
        )
        LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        DECLARE
            e uuid;
        BEGIN
            FOR e IN SELECT DISTINCT x FROM unnest(estates) x ORDER BY x LOOP
                PERFORM set_config('xinyi.estate_id', e::text, true);
                INSERT INTO chain_heads (estate_id, last_index, last_hash)
                VALUES (e, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000')
                ON CONFLICT DO NOTHING;
                head_estate := e;
                head_index := NULL;
                head_hash := NULL;
                IF wait THEN
                    SELECT h.last_index, h.last_hash INTO head_index, head_hash
                    FROM chain_heads h WHERE h.estate_id = e FOR UPDATE;
                ELSE
                    SELECT h.last_index, h.last_hash INTO head_index, head_hash
                    FROM chain_heads h WHERE h.estate_id = e FOR UPDATE SKIP LOCKED;
                    IF NOT FOUND THEN
                        closed_periods := NULL;
                        account_codes := NULL;
                        ratio_terms := NULL;
                        keys_done := NULL;
                        digests_done := NULL;
                        responses_done := NULL;
                        RETURN NEXT;
                        CONTINUE;
                    END IF;
                END IF;
                SELECT coalesce(array_agg(p.period::text), '{}') INTO closed_periods
                FROM periods p WHERE p.estate_id = e;
                SELECT coalesce(array_agg(a.code::text), '{}') INTO account_codes
                FROM accounts a WHERE a.estate_id = e;
                ratio_terms := EXISTS (
                    SELECT FROM contract_terms t WHERE t.estate_id = e AND t.ratio_num IS NOT NULL
                );
                SELECT array_agg(i.key), array_agg(i.request_sha256), array_agg(i.response)
                INTO keys_done, digests_done, responses_done
                FROM idempotency i
                WHERE i.estate_id = e AND i.key IN (
                    SELECT k.key FROM unnest(key_estates, keys) k (estate, key) WHERE k.estate = e
                );
                RETURN NEXT;
            END LOOP;
            PERFORM set_config('xinyi.estate_id', '', true);
        END
        $$
        """
    )
