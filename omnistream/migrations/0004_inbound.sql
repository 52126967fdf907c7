-- Inbound webhooks (issue 4): retry scheduling of audit rows and fetching of inbound media.

-- A payload whose receipts name a message not recorded yet (the status beat the sender's
-- record) stays pending until this time; NULL: due now (the acknowledging insert leaves it).
ALTER TABLE webhook_audit ADD COLUMN next_attempt_at TIMESTAMPTZ;

-- Inbound media: WhatsApp names a Graph media id (channel_media_id); Messenger and Instagram
-- give a CDN URL (source_url). The fetcher retries with backoff until next_attempt_at.
ALTER TABLE media ADD COLUMN source_url TEXT;
ALTER TABLE media ADD COLUMN next_attempt_at TIMESTAMPTZ;
CREATE INDEX media_inbound_due_idx ON media (next_attempt_at)
    WHERE status = 'pending' AND origin = 'inbound';
