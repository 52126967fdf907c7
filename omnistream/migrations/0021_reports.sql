-- Reports (issue 15): per-conversation facts and the rollups summed from them.
--
-- Every figure is attributed to the conversation as it is now (channel, inbox account,
-- division, assignee), like the inbox's visibility; an outbound message to its sender.
-- The facts of a conversation are recomputed from its raw rows whenever it changes
-- (reports/queries.py: recompute), and the rollups move by the difference, so they always
-- equal a recomputation from raw data. No foreign keys: the facts of a deleted
-- conversation are removed by that same recomputation.

-- One row per cycle of a conversation (created, then each reopen).
CREATE TABLE report_cycles (
    conversation_id   UUID NOT NULL,
    cycle             INTEGER NOT NULL,
    contact_id        UUID NOT NULL,
    channel           TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    account_id        UUID,
    division_id       UUID,
    agent_id          UUID,             -- the conversation's assignee now
    opened_at         TIMESTAMPTZ NOT NULL,
    first_response_at TIMESTAMPTZ,      -- the cycle's first message sent by an agent
    responder_id      UUID,             -- who sent it
    resolved_at       TIMESTAMPTZ,
    -- Business seconds to the first response / to the resolve, under the conversation's
    -- SLA policy now (its hours); NULL without one. Filled by reports/business.py.
    frt_business        DOUBLE PRECISION,
    resolution_business DOUBLE PRECISION,
    -- Each SLA target of that policy: 'met', 'breached' or NULL (no such target, or not
    -- decided yet); a breach is the cycle's row in sla_breach_logs.
    sla_first_response    TEXT CHECK (sla_first_response IN ('met', 'breached')),
    first_response_due_at TIMESTAMPTZ,  -- the missed due time of a breached first response
    sla_next_response     TEXT CHECK (sla_next_response IN ('met', 'breached')),
    sla_resolution        TEXT CHECK (sla_resolution IN ('met', 'breached'))
);
-- Not unique: a recomputation deletes and inserts a conversation's rows in one statement.
CREATE INDEX report_cycles_conversation_idx ON report_cycles (conversation_id);
CREATE INDEX report_cycles_responded_idx ON report_cycles (first_response_at)
    WHERE first_response_at IS NOT NULL;
CREATE INDEX report_cycles_resolved_idx ON report_cycles (resolved_at)
    WHERE resolved_at IS NOT NULL;
CREATE INDEX report_cycles_contact_idx ON report_cycles (contact_id);
-- SLA outcomes by the time they were decided (reports/queries.py sla_outcomes).
CREATE INDEX report_cycles_sla_met_idx ON report_cycles (first_response_at)
    WHERE sla_first_response IS NOT NULL;
CREATE INDEX report_cycles_sla_missed_idx ON report_cycles (first_response_due_at)
    WHERE sla_first_response = 'breached';
CREATE INDEX report_cycles_sla_ended_idx ON report_cycles (resolved_at)
    WHERE sla_next_response IS NOT NULL OR sla_resolution IS NOT NULL;

-- A conversation's messages per 15-minute bucket and agent (the sender of an outbound
-- message, the assignee for an inbound one), by direction and outbound status; failed
-- outbound messages in rows of their own per error code (`code`, NULL in the others).
CREATE TABLE report_messages (
    conversation_id UUID NOT NULL,
    bucket          TIMESTAMPTZ NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    account_id      UUID,
    division_id     UUID,
    agent_id        UUID,
    inbound         INTEGER NOT NULL,
    outbound        INTEGER NOT NULL,
    pending         INTEGER NOT NULL,
    sent            INTEGER NOT NULL,
    delivered       INTEGER NOT NULL,
    read            INTEGER NOT NULL,
    failed          INTEGER NOT NULL,
    code            TEXT
);
CREATE INDEX report_messages_conversation_idx ON report_messages (conversation_id);

-- The rollups: sums of the facts per 15-minute bucket at three grains, so a report reads
-- the fewest rows its filters allow: 0 = channel + account, 1 = + division,
-- 2 = + division + agent; and grain 3 = grain 2 per UTC day (bucket at midnight UTC), for
-- per-agent totals over long ranges (whole UTC days from grain 3, the edges from grain 2).
-- NULL in division_id / agent_id is "none" at grains that have it.
CREATE TABLE report_rollups (
    grain       SMALLINT NOT NULL CHECK (grain IN (0, 1, 2, 3)),
    bucket      TIMESTAMPTZ NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    account_id  UUID,
    division_id UUID,
    agent_id    UUID,
    opened      INTEGER NOT NULL DEFAULT 0,
    reopened    INTEGER NOT NULL DEFAULT 0,
    resolved    INTEGER NOT NULL DEFAULT 0,
    inbound     INTEGER NOT NULL DEFAULT 0,
    outbound    INTEGER NOT NULL DEFAULT 0,
    pending     INTEGER NOT NULL DEFAULT 0,
    sent        INTEGER NOT NULL DEFAULT 0,
    delivered   INTEGER NOT NULL DEFAULT 0,
    read        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX report_rollups_key ON report_rollups
    (grain, bucket, channel, account_id, division_id, agent_id) NULLS NOT DISTINCT;
CREATE INDEX report_rollups_division_idx ON report_rollups (division_id, bucket)
    WHERE grain = 1;
CREATE INDEX report_rollups_agent_idx ON report_rollups (agent_id, bucket) WHERE grain = 2;

CREATE TABLE report_failure_rollups (
    grain       SMALLINT NOT NULL CHECK (grain IN (0, 1, 2)),
    bucket      TIMESTAMPTZ NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    account_id  UUID,
    division_id UUID,
    agent_id    UUID,
    code        TEXT NOT NULL,
    failed      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX report_failure_rollups_key ON report_failure_rollups
    (grain, bucket, channel, account_id, division_id, agent_id, code) NULLS NOT DISTINCT;

-- Conversations whose facts must be recomputed though no event of theirs says so (a
-- division or inbox account deleted under them), and every conversation that exists
-- when this migration runs: the worker drains it (reports/worker.py).
CREATE TABLE report_dirty (
    conversation_id UUID PRIMARY KEY
);
INSERT INTO report_dirty (conversation_id) SELECT id FROM conversations;

-- The reports consumer reads the outbox from the present on (what came before is in
-- report_dirty).
INSERT INTO event_consumers (name, position)
SELECT 'reports', COALESCE(max(seq), 0) FROM event_outbox
ON CONFLICT (name) DO NOTHING;
