"""Group commit of income postings: two functions that lock the estates' chains and write a
group's entries, lines, items, outbox rows and idempotency records in one round trip each.

Both run as the caller's role (SECURITY INVOKER), so row-level security applies: before any
statement touches an estate's rows they set the transaction's estate to that estate, and they
clear it when done, so a group that spans estates reads and writes each only in its own scope.
"""

from alembic import op

revision = "0018"
down_revision = "0017"


def upgrade() -> None:
    # Estates are locked in one order (sorted), so two groups never wait on each other in a
    # cycle. The idempotency records are read after the chain's lock: every posting that could
    # write one of them holds that lock, so what is read is what counts.
    op.execute(
        """
        CREATE FUNCTION posting_lock(estates uuid[], key_estates uuid[], keys text[])
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
                SELECT h.last_index, h.last_hash INTO head_index, head_hash
                FROM chain_heads h WHERE h.estate_id = e FOR UPDATE;
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
    # One estate's share of a group, its chain already locked by posting_lock. The outbox rows
    # are numbered here, under that lock, rather than by the deferred trigger at commit: a group
    # spanning estates commits in no single estate's scope (the trigger then finds nothing left
    # to number).
    op.execute(
        """
        CREATE FUNCTION posting_write(
            e uuid, new_index bigint, new_hash bytea,
            entry_ids uuid[], chain_indexes bigint[], kinds smallint[], periods text[],
            booked date[], descriptions text[], sources text[], lump_sums boolean[],
            late_for text[], vouchers text[], canonicals text[], entry_hashes bytea[],
            chain_hashes bytea[], recorded_ats timestamptz[], recorded_bys uuid[],
            line_entries uuid[], line_nos smallint[], line_accounts text[], line_amounts bigint[],
            item_entries uuid[], item_nos integer[], item_texts text[], item_amounts bigint[],
            item_days date[],
            event_ids uuid[], subjects text[], event_types text[], envelopes bytea[],
            headers text[], occurred_ats timestamptz[],
            idem_keys text[], idem_digests bytea[], idem_responses bytea[], channel text
        ) RETURNS void
        LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        DECLARE
            pending bigint := cardinality(event_ids);
            last bigint;
        BEGIN
            PERFORM set_config('xinyi.estate_id', e::text, true);
            INSERT INTO entries (
                estate_id, entry_id, chain_index, kind, period, booked_on, description,
                income_source, lump_sum, late_for_period, voucher_sha256, canonical,
                entry_hash, chain_hash, recorded_at, recorded_by
            )
            SELECT e, u.id, u.ix, u.k, u.p, u.b, u.d, u.s, u.l, u.lf,
                   string_to_array(u.v, ','), u.c, u.eh, u.ch, u.ra, u.rb
            FROM unnest(
                entry_ids, chain_indexes, kinds, periods, booked, descriptions, sources,
                lump_sums, late_for, vouchers, canonicals, entry_hashes, chain_hashes,
                recorded_ats, recorded_bys
            ) u (id, ix, k, p, b, d, s, l, lf, v, c, eh, ch, ra, rb);
            INSERT INTO entry_lines (estate_id, entry_id, line_no, account_code, amount_fen)
            SELECT e, u.id, u.n, u.a, u.f
            FROM unnest(line_entries, line_nos, line_accounts, line_amounts) u (id, n, a, f);
            IF cardinality(item_entries) > 0 THEN
                INSERT INTO entry_items (
                    estate_id, entry_id, item_no, description, amount_fen, occurred_on
                )
                SELECT e, u.id, u.n, u.d, u.f, u.o
                FROM unnest(item_entries, item_nos, item_texts, item_amounts, item_days)
                    u (id, n, d, f, o);
            END IF;
            INSERT INTO outbox_sequence AS s (estate_id, last_seq) VALUES (e, pending)
            ON CONFLICT (estate_id) DO UPDATE SET last_seq = s.last_seq + pending
            RETURNING s.last_seq INTO last;
            INSERT INTO outbox (
                estate_id, seq, event_id, subject, event_type, envelope, trace_headers,
                occurred_at
            )
            SELECT e, last - pending + u.n, u.id, u.s, u.t, u.env, u.h::jsonb, u.at
            FROM unnest(event_ids, subjects, event_types, envelopes, headers, occurred_ats)
                WITH ORDINALITY u (id, s, t, env, h, at, n)
            ORDER BY u.n;
            IF cardinality(idem_keys) > 0 THEN
                INSERT INTO idempotency (estate_id, key, request_sha256, response)
                SELECT e, u.k, u.d, u.r FROM unnest(idem_keys, idem_digests, idem_responses)
                    u (k, d, r);
            END IF;
            UPDATE chain_heads SET last_index = new_index, last_hash = new_hash
            WHERE estate_id = e;
            PERFORM pg_notify(channel, '');
            PERFORM set_config('xinyi.estate_id', '', true);
        END
        $$
        """
    )
    # Numbers an estate's outbox rows written so far in this transaction by the ordinary path
    # (an accrual posted inside a group), as the deferred trigger would at commit.
    op.execute(
        """
        CREATE FUNCTION outbox_number_now(e uuid) RETURNS void
        LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        DECLARE
            pending bigint;
            last bigint;
        BEGIN
            SELECT count(*) INTO pending FROM outbox WHERE estate_id = e AND seq IS NULL;
            IF pending = 0 THEN
                RETURN;
            END IF;
            INSERT INTO outbox_sequence AS s (estate_id, last_seq) VALUES (e, pending)
            ON CONFLICT (estate_id) DO UPDATE SET last_seq = s.last_seq + pending
            RETURNING s.last_seq INTO last;
            UPDATE outbox o SET seq = last - pending + p.n
            FROM (
                SELECT id, row_number() OVER (ORDER BY id) AS n FROM outbox
                WHERE estate_id = e AND seq IS NULL
            ) p
            WHERE o.estate_id = e AND o.id = p.id;
        END
        $$
        """
    )
