-- Outgoing webhooks (omnistream/webhooks): endpoints with a sealed signing secret (and the
-- previous one during a rotation), a delivery per (event, endpoint), every attempt logged.

-- Event consumers other than the realtime dispatcher read the outbox by seq from a position
-- of their own, advanced in the same transaction as their work. Housekeeping never deletes
-- an event an active consumer has not passed.
CREATE TABLE event_consumers (
    name       TEXT PRIMARY KEY,
    position   BIGINT NOT NULL DEFAULT 0,
    is_active  BOOLEAN NOT NULL DEFAULT true,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Starts at the present: there is no endpoint yet to deliver older events to.
INSERT INTO event_consumers (name, position)
SELECT 'webhooks', COALESCE(max(seq), 0) FROM event_outbox;

ALTER TABLE outgoing_webhooks
    ADD COLUMN description        TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    ADD COLUMN previous_secret    TEXT,          -- sealed; valid until previous_expires_at
    ADD COLUMN previous_expires_at TIMESTAMPTZ,
    ADD COLUMN max_concurrency    INTEGER NOT NULL DEFAULT 4 CHECK (max_concurrency BETWEEN 1 AND 32),
    -- Events published after this seq are delivered (set on create and on re-enable).
    ADD COLUMN start_seq          BIGINT NOT NULL DEFAULT 0,
    -- The first failed attempt since the last success: the auto-disable clock.
    ADD COLUMN failing_since      TIMESTAMPTZ,
    ADD COLUMN disabled_reason    TEXT,
    ADD COLUMN disabled_at        TIMESTAMPTZ,
    ADD COLUMN created_by         UUID REFERENCES agents (id) ON DELETE SET NULL,
    ADD CONSTRAINT outgoing_webhooks_url_length CHECK (length(url) <= 2000);

ALTER TABLE webhook_deliveries
    ADD COLUMN event_id        UUID NOT NULL DEFAULT gen_random_uuid(),  -- the webhook-id header
    ADD COLUMN event_seq       BIGINT NOT NULL DEFAULT 0,                -- 0: a test event
    ADD COLUMN claimed_by      INTEGER,
    ADD COLUMN leased_until    TIMESTAMPTZ,
    ADD COLUMN last_attempt_at TIMESTAMPTZ,
    ADD COLUMN last_status     INTEGER,
    ADD COLUMN completed_at    TIMESTAMPTZ,
    ADD COLUMN updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, event_id);
DROP INDEX webhook_deliveries_due_idx;
-- The claim: an endpoint's due deliveries in order.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (webhook_id, next_retry_at)
    WHERE status = 'pending';
-- The log: an endpoint's deliveries newest first (keyset on (created_at, id)).
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_claimed_idx ON webhook_deliveries (claimed_by)
    WHERE claimed_by IS NOT NULL AND status = 'pending';

CREATE TABLE webhook_attempts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   UUID NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at  TIMESTAMPTZ NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status_code   INTEGER,            -- NULL: no HTTP answer (refused, timeout, blocked)
    response_body TEXT,               -- the first 2 KB
    error         TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
CREATE INDEX webhook_attempts_created_idx ON webhook_attempts (created_at);
