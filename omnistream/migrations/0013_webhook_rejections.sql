-- Refused webhook calls (no or wrong signature, too large) are counted per source address and
-- minute; only a sample keeps its body in webhook_audit, so a flood of junk costs bounded
-- storage (docs/channels.md, "Refused calls"). Both tables are UNLOGGED: a refusal past the
-- sample writes no WAL and its commit waits for no disk flush; after a crash the counters
-- start again from zero (they are diagnostics, and the sample bound still holds per minute).

-- One row per source address and minute. Past `p_sources` addresses in a minute, further
-- ones are counted together under the source '*'.
CREATE UNLOGGED TABLE webhook_rejections (
    minute   TIMESTAMPTZ NOT NULL,
    source   TEXT NOT NULL,
    rejected BIGINT NOT NULL DEFAULT 1 CHECK (rejected >= 1),
    sampled  INTEGER NOT NULL DEFAULT 0 CHECK (sampled >= 0),
    PRIMARY KEY (minute, source)
);

-- The whole minute: source rows handed out, and bodies stored / not stored for the
-- overall cap.
CREATE UNLOGGED TABLE webhook_rejection_minutes (
    minute  TIMESTAMPTZ PRIMARY KEY,
    sources INTEGER NOT NULL DEFAULT 0 CHECK (sources >= 0),
    sampled INTEGER NOT NULL DEFAULT 0 CHECK (sampled >= 0),
    capped  BIGINT NOT NULL DEFAULT 0 CHECK (capped >= 0)
);

-- The peer address of a refused call kept as a sample (NULL on accepted calls).
ALTER TABLE webhook_audit ADD COLUMN source TEXT;

-- Counts one refused call and keeps its body when it is among the first p_per_source of its
-- source this minute and the first p_per_minute of all sources: one round trip per call.
-- Returns the source row it was counted under, that row's count, whether the body was kept,
-- and whether this call was the first one the overall cap left out this minute.
-- Locks are taken in one order, the minute's row before a source row, so concurrent calls
-- cannot deadlock; a call past its source's sample (the flood) touches its source row only.
CREATE FUNCTION record_webhook_rejection(
    p_source TEXT, p_headers JSONB, p_body BYTEA, p_error TEXT,
    p_per_source INTEGER, p_per_minute INTEGER, p_sources INTEGER)
RETURNS TABLE (counted_as TEXT, rejected BIGINT, sampled BOOLEAN, first_capped BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
    this_minute TIMESTAMPTZ := date_trunc('minute', now());
    key TEXT := p_source;
    seen BIGINT;
    n BIGINT;
    taken INTEGER;
    kept_before INTEGER;
    capped_before BIGINT;
    in_sample BOOLEAN;
    kept BOOLEAN;
BEGIN
    SELECT r.rejected INTO seen FROM webhook_rejections r
     WHERE r.minute = this_minute AND r.source = p_source;
    IF NOT FOUND THEN
        SELECT r.rejected INTO seen FROM webhook_rejections r
         WHERE r.minute = this_minute AND r.source = '*';
        IF FOUND THEN
            key := '*';  -- addresses overflowed this minute: a new one counts under '*'
        END IF;
    END IF;
    IF seen >= p_per_source THEN
        -- Past the sample (counts only grow within a minute): count it, nothing more.
        UPDATE webhook_rejections r SET rejected = r.rejected + 1
         WHERE r.minute = this_minute AND r.source = key
        RETURNING r.rejected INTO n;
        IF FOUND THEN
            RETURN QUERY SELECT key, n, false, false;
            RETURN;
        END IF;
    END IF;

    INSERT INTO webhook_rejection_minutes (minute) VALUES (this_minute)
    ON CONFLICT (minute) DO NOTHING;
    SELECT m.sources, m.sampled, m.capped INTO taken, kept_before, capped_before
      FROM webhook_rejection_minutes m WHERE m.minute = this_minute FOR UPDATE;
    -- Source rows are only created under this lock: what is not there now is new.
    key := p_source;
    UPDATE webhook_rejections r SET rejected = r.rejected + 1
     WHERE r.minute = this_minute AND r.source = p_source
    RETURNING r.rejected INTO n;
    IF NOT FOUND THEN
        key := '*';
        UPDATE webhook_rejections r SET rejected = r.rejected + 1
         WHERE r.minute = this_minute AND r.source = '*'
        RETURNING r.rejected INTO n;
        IF NOT FOUND THEN
            IF taken < p_sources THEN
                key := p_source;
                taken := taken + 1;
            END IF;
            INSERT INTO webhook_rejections (minute, source) VALUES (this_minute, key)
            RETURNING webhook_rejections.rejected INTO n;
        END IF;
    END IF;
    in_sample := n <= p_per_source;
    kept := in_sample AND kept_before < p_per_minute;
    IF kept THEN
        UPDATE webhook_rejections r SET sampled = r.sampled + 1
         WHERE r.minute = this_minute AND r.source = key;
        INSERT INTO webhook_audit (channel, headers, body, signature_valid, status, error,
                                   processed_at, source)
        VALUES ('meta', p_headers, p_body, false, 'rejected', p_error, now(), p_source);
    END IF;
    UPDATE webhook_rejection_minutes m
       SET sources = taken,
           sampled = kept_before + kept::INTEGER,
           capped = capped_before + (in_sample AND NOT kept)::INTEGER
     WHERE m.minute = this_minute;
    RETURN QUERY SELECT key, n, kept, in_sample AND NOT kept AND capped_before = 0;
END
$$;
