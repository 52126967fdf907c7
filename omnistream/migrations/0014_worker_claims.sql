-- Worker liveness (omnistream/workers): every leased claim records the key of the worker
-- process that made it. A worker holds a session advisory lock under its key, which
-- PostgreSQL releases when its connection dies; a claim whose owner holds no lock any more
-- is taken over after a short grace period instead of waiting out the whole lease.
ALTER TABLE messages
    ADD COLUMN claimed_by INTEGER,
    -- set when the worker sending it stopped; cleared when a worker claims it again
    ADD COLUMN recovering_since TIMESTAMPTZ;
ALTER TABLE read_receipts ADD COLUMN claimed_by INTEGER;
ALTER TABLE media ADD COLUMN claimed_by INTEGER;
ALTER TABLE contact_identities ADD COLUMN profile_claimed_by INTEGER;

-- Only claims in flight are indexed: the takeover reads these few rows every few seconds.
CREATE INDEX messages_claimed_idx ON messages (claimed_by)
    WHERE claimed_by IS NOT NULL AND status = 'pending';
CREATE INDEX read_receipts_claimed_idx ON read_receipts (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX media_claimed_idx ON media (claimed_by)
    WHERE claimed_by IS NOT NULL AND status = 'pending';
CREATE INDEX contact_identities_profile_claimed_idx ON contact_identities (profile_claimed_by)
    WHERE profile_claimed_by IS NOT NULL;
