-- Bulk sends (broadcast campaigns) share an account's send-rate timeline with the agents'
-- replies (omnistream/channels/ratelimit.py). Each second's `rate` slots are split into two
-- interleaved sets: the bulk set, `bulk` of them evenly spread (slot_is_bulk), and the rest.
-- Bulk sends take only bulk-set slots, from a frontier of their own; replies take any slot
-- while no bulk send holds a future slot, and only slots outside the bulk set while one
-- does. So in every second bulk sends start at most `bulk` times, all sends together at
-- most `rate` times, and a reply never waits behind the bulk backlog.
ALTER TABLE send_slots
    ADD COLUMN bulk_second BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN bulk_index  INTEGER NOT NULL DEFAULT 0 CHECK (bulk_index >= 0),
    ADD COLUMN bulk_at     DOUBLE PRECISION NOT NULL DEFAULT 0,  -- the bulk frontier's time
    ADD COLUMN bulk_rate   INTEGER NOT NULL DEFAULT 0;           -- its set's size per second

CREATE FUNCTION slot_is_bulk(p_index INTEGER, p_rate INTEGER, p_bulk INTEGER)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT p_bulk > 0 AND ((p_index + 1) * p_bulk) / p_rate > (p_index * p_bulk) / p_rate
$$;

DROP FUNCTION take_send_slots(UUID, INTEGER, INTEGER, DOUBLE PRECISION, DOUBLE PRECISION);

-- Up to p_want slots of one account, atomically (the row lock serialises every taker of the
-- account, in any process). p_bulk > 0: a bulk take of the bulk set of that size; 0: a
-- reply. A grant stays inside one second and is never made past now + p_horizon (granted
-- = 0: slot_second / first_index name the next free slot; ask again when it is near).
CREATE FUNCTION take_send_slots(p_account UUID, p_want INTEGER, p_rate INTEGER,
                                p_guard DOUBLE PRECISION, p_horizon DOUBLE PRECISION,
                                p_bulk INTEGER DEFAULT 0)
RETURNS TABLE (slot_second BIGINT, first_index INTEGER, granted INTEGER,
               db_now DOUBLE PRECISION, indices INTEGER[])
LANGUAGE plpgsql AS $$
DECLARE
    spacing DOUBLE PRECISION := (1 - p_guard) / p_rate;
    s send_slots%ROWTYPE;
    now_s DOUBLE PRECISION;
    cur BIGINT;
    idx INTEGER;
    mask_bulk INTEGER;     -- the bulk set's size for this take's mask; 0: every slot
    want_bulk BOOLEAN;     -- take bulk-set slots (true) or slots outside it (false)
    bulk_busy BOOLEAN;
    picked INTEGER[] := '{}';
    i INTEGER;
    tries INTEGER := 0;
BEGIN
    SELECT * INTO s FROM send_slots WHERE account_id = p_account FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO send_slots (account_id) VALUES (p_account) ON CONFLICT DO NOTHING;
        SELECT * INTO s FROM send_slots WHERE account_id = p_account FOR UPDATE;
    END IF;
    now_s := extract(epoch FROM clock_timestamp());
    bulk_busy := s.bulk_at > now_s AND s.bulk_rate > 0;
    -- The first slot at or after now ...
    cur := floor(now_s)::BIGINT;
    idx := ceil((now_s - cur) / spacing)::INTEGER;
    -- ... unless this taker's frontier reaches further.
    IF p_bulk > 0 THEN
        mask_bulk := LEAST(p_bulk, p_rate);
        want_bulk := true;
        IF (s.bulk_second, s.bulk_index) > (cur, idx) THEN
            cur := s.bulk_second; idx := s.bulk_index;
        END IF;
        -- Replies may hold every slot up to their frontier (taken while no bulk send ran).
        IF NOT bulk_busy AND (s.next_second, s.next_index) > (cur, idx) THEN
            cur := s.next_second; idx := s.next_index;
        END IF;
    ELSE
        mask_bulk := CASE WHEN bulk_busy THEN LEAST(s.bulk_rate, p_rate) ELSE 0 END;
        want_bulk := false;
        IF (s.next_second, s.next_index) > (cur, idx) THEN
            cur := s.next_second; idx := s.next_index;
        END IF;
    END IF;
    LOOP
        IF idx >= p_rate THEN  -- past the second's last slot (or inside its guard)
            cur := cur + 1;
            idx := 0;
        END IF;
        EXIT WHEN cur + idx * spacing > now_s + p_horizon;
        i := idx;
        WHILE i < p_rate AND coalesce(array_length(picked, 1), 0) < GREATEST(p_want, 0) LOOP
            IF mask_bulk = 0 OR slot_is_bulk(i, p_rate, mask_bulk) = want_bulk THEN
                picked := picked || i;
            END IF;
            i := i + 1;
        END LOOP;
        EXIT WHEN coalesce(array_length(picked, 1), 0) > 0 OR p_want <= 0;
        tries := tries + 1;
        EXIT WHEN tries > 2;
        idx := p_rate;  -- none left in this second for this taker: the next one
    END LOOP;
    IF coalesce(array_length(picked, 1), 0) > 0 THEN
        i := picked[array_length(picked, 1)] + 1;  -- this taker's new frontier
        IF p_bulk > 0 THEN
            UPDATE send_slots
               SET bulk_second = CASE WHEN i >= p_rate THEN cur + 1 ELSE cur END,
                   bulk_index = CASE WHEN i >= p_rate THEN 0 ELSE i END,
                   bulk_at = CASE WHEN i >= p_rate THEN cur + 1 ELSE cur + i * spacing END,
                   bulk_rate = mask_bulk
             WHERE account_id = p_account;
        ELSE
            UPDATE send_slots
               SET next_second = CASE WHEN i >= p_rate THEN cur + 1 ELSE cur END,
                   next_index = CASE WHEN i >= p_rate THEN 0 ELSE i END,
                   next_at = CASE WHEN i >= p_rate THEN cur + 1 ELSE cur + i * spacing END
             WHERE account_id = p_account;
        END IF;
        RETURN QUERY SELECT cur, picked[1], array_length(picked, 1), now_s, picked;
    ELSE
        RETURN QUERY SELECT cur, LEAST(idx, p_rate - 1), 0, now_s, picked;
    END IF;
END
$$;
