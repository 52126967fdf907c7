-- Broadcast campaigns (issue 13): a campaign sends one approved WhatsApp template to every
-- recipient of its audience, exactly once, at a share of its account's send rate
-- (omnistream/campaigns/). Replies are linked back to the recipient and the campaign.

ALTER TABLE campaigns DROP CONSTRAINT campaigns_status_check;
ALTER TABLE campaigns
    ADD CONSTRAINT campaigns_status_check CHECK (status IN (
        'draft', 'scheduled', 'running', 'paused', 'completed', 'failed', 'cancelled')),
    -- Replies open their conversations in this division.
    ADD COLUMN division_id      UUID REFERENCES divisions (id) ON DELETE SET NULL,
    -- Each template variable: {"value": fixed text} or {"column": a recipient column}.
    ADD COLUMN variables        JSONB NOT NULL DEFAULT '{}',
    -- A media / location header's fixed parameter (templates.schemas.HeaderValue).
    ADD COLUMN header           JSONB,
    ADD COLUMN audience_source  TEXT CHECK (audience_source IN ('csv', 'contacts')),
    ADD COLUMN audience_columns TEXT[] NOT NULL DEFAULT '{}',  -- the columns recipients carry
    ADD COLUMN audience_filter  JSONB,                         -- the contacts filter used
    ADD COLUMN audience_report  JSONB,                         -- the last upload's counts
    ADD COLUMN started_at       TIMESTAMPTZ,
    ADD COLUMN finished_at      TIMESTAMPTZ,
    ADD COLUMN failure_reason   TEXT,
    ADD COLUMN updated_at       TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX campaigns_recent_idx ON campaigns (created_at DESC, id DESC);
CREATE INDEX campaigns_running_idx ON campaigns (id) WHERE status = 'running';

ALTER TABLE campaign_recipients DROP CONSTRAINT campaign_recipients_status_check;
ALTER TABLE campaign_recipients
    ADD CONSTRAINT campaign_recipients_status_check
        CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed')),
    ADD COLUMN name               TEXT NOT NULL DEFAULT '',
    ADD COLUMN variables          JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN contact_id         UUID REFERENCES contacts (id) ON DELETE SET NULL,
    ADD COLUMN line               INTEGER,                     -- its line in the CSV file
    ADD COLUMN channel_message_id TEXT,                        -- the wamid Meta answered
    ADD COLUMN error_code         TEXT,
    ADD COLUMN attempts           INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN claimed_by         INTEGER,                     -- the sending worker's key
    ADD COLUMN next_attempt_at    TIMESTAMPTZ NOT NULL DEFAULT now(),  -- due / lease end
    ADD COLUMN delivered_at       TIMESTAMPTZ,
    ADD COLUMN read_at            TIMESTAMPTZ,
    ADD COLUMN failed_at          TIMESTAMPTZ,
    ADD COLUMN replied_at         TIMESTAMPTZ,
    ADD COLUMN message_id         UUID REFERENCES messages (id) ON DELETE SET NULL;
DROP INDEX campaign_recipients_pending_idx;
-- The sender's claim: a campaign's due pending recipients in order.
CREATE INDEX campaign_recipients_due_idx
    ON campaign_recipients (campaign_id, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX campaign_recipients_status_idx ON campaign_recipients (campaign_id, status, id);
CREATE UNIQUE INDEX campaign_recipients_wamid_idx
    ON campaign_recipients (channel_message_id) WHERE channel_message_id IS NOT NULL;
-- Reply linking: the latest send to a number not yet answered.
CREATE INDEX campaign_recipients_unanswered_idx
    ON campaign_recipients (phone, sent_at DESC) WHERE conversation_id IS NULL AND sent_at IS NOT NULL;

-- Numbers that must never receive a campaign (WhatsApp ids, as contacts.phone).
CREATE TABLE campaign_opt_outs (
    phone       TEXT PRIMARY KEY,
    reason      TEXT NOT NULL CHECK (reason IN ('agent', 'api', 'keyword', 'meta_131050')),
    note        TEXT NOT NULL DEFAULT '',
    created_by  UUID REFERENCES agents (id) ON DELETE SET NULL,
    campaign_id UUID REFERENCES campaigns (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX campaign_opt_outs_recent_idx ON campaign_opt_outs (created_at DESC, phone);

-- The campaign a conversation came from (its customer replied to the campaign's message).
ALTER TABLE conversations ADD COLUMN campaign_id UUID REFERENCES campaigns (id) ON DELETE SET NULL;

-- Recipients per status, recounted by the campaign loop (at most once a second while it
-- runs; `counts_stale`: at once, after a status or audience change) and announced as
-- campaign.progress.
ALTER TABLE campaigns
    ADD COLUMN counts       JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN counts_stale BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN counted_at   TIMESTAMPTZ;
CREATE INDEX campaigns_stale_idx ON campaigns (id) WHERE counts_stale;
