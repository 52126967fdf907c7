-- Outbound sending (issue 4): per-account send slots and queued WhatsApp read receipts.

-- The send-rate timeline of each integration account (omnistream/channels/ratelimit.py).
-- Every second of the PostgreSQL clock holds `rate` slots, evenly spaced over its first
-- (1 - guard) part; (next_second, next_index) is the first slot not handed out yet, and
-- next_at its time (epoch seconds), which the claim reads to skip saturated accounts.
CREATE TABLE send_slots (
    account_id  UUID PRIMARY KEY REFERENCES integration_accounts (id) ON DELETE CASCADE,
    next_second BIGINT NOT NULL DEFAULT 0,
    next_index  INTEGER NOT NULL DEFAULT 0 CHECK (next_index >= 0),
    next_at     DOUBLE PRECISION NOT NULL DEFAULT 0
);

-- Hands out up to p_want consecutive slots of one account, atomically (the row lock makes
-- concurrent workers, in any number of processes, take disjoint slots). The clock is read
-- after the lock is held, so a caller that waited never takes a slot in the past.
-- A grant stays inside one second; none is made past now + p_horizon (granted = 0, and
-- slot_second / first_index name the next free slot: ask again when it is near).
-- Returns the slots' second, the index of the first within it, how many, and the clock.
CREATE FUNCTION take_send_slots(p_account UUID, p_want INTEGER, p_rate INTEGER,
                                p_guard DOUBLE PRECISION, p_horizon DOUBLE PRECISION)
RETURNS TABLE (slot_second BIGINT, first_index INTEGER, granted INTEGER,
               db_now DOUBLE PRECISION)
LANGUAGE plpgsql AS $$
DECLARE
    spacing DOUBLE PRECISION := (1 - p_guard) / p_rate;
    row_second BIGINT;
    row_index INTEGER;
    now_s DOUBLE PRECISION;
    cur BIGINT;
    idx INTEGER;
    n INTEGER := 0;
BEGIN
    SELECT s.next_second, s.next_index INTO row_second, row_index
      FROM send_slots s WHERE s.account_id = p_account FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO send_slots (account_id) VALUES (p_account) ON CONFLICT DO NOTHING;
        SELECT s.next_second, s.next_index INTO row_second, row_index
          FROM send_slots s WHERE s.account_id = p_account FOR UPDATE;
    END IF;
    now_s := extract(epoch FROM clock_timestamp());
    -- The first slot at or after now ...
    cur := floor(now_s)::BIGINT;
    idx := ceil((now_s - cur) / spacing)::INTEGER;
    IF idx >= p_rate THEN  -- inside the guard at the end of the second
        cur := cur + 1;
        idx := 0;
    END IF;
    -- ... unless earlier grants already reach further.
    IF (row_second, row_index) > (cur, idx) THEN
        cur := row_second;
        idx := row_index;
    END IF;
    IF idx >= p_rate THEN  -- the rate was lowered since that grant
        cur := cur + 1;
        idx := 0;
    END IF;
    IF cur + idx * spacing <= now_s + p_horizon THEN
        n := LEAST(GREATEST(p_want, 0), p_rate - idx);
        UPDATE send_slots s
           SET next_second = CASE WHEN idx + n >= p_rate THEN cur + 1 ELSE cur END,
               next_index = CASE WHEN idx + n >= p_rate THEN 0 ELSE idx + n END,
               next_at = CASE WHEN idx + n >= p_rate THEN cur + 1
                              ELSE cur + (idx + n) * spacing END
         WHERE s.account_id = p_account;
    END IF;
    RETURN QUERY SELECT cur, idx, n, now_s;
END
$$;

-- WhatsApp read receipts queued when an agent marks a conversation read (POST
-- /api/v1/conversations/{id}/read), sent after commit by the outbound loop. One row per
-- conversation: only its latest inbound message matters (reading it reads the earlier ones).
CREATE TABLE read_receipts (
    conversation_id        UUID PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    integration_account_id UUID NOT NULL REFERENCES integration_accounts (id) ON DELETE CASCADE,
    channel_message_id     TEXT NOT NULL,
    attempts               INTEGER NOT NULL DEFAULT 0,
    next_attempt_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX read_receipts_due_idx ON read_receipts (next_attempt_at);
