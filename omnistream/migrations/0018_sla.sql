-- SLA policies with business hours (issue 14, omnistream/sla/). A conversation gets the most
-- specific matching policy; its due times, computed in the policy's business time, are kept
-- on the conversation (lists sort and filter by them) by the SLA event consumer, and the
-- breach loop logs each breach exactly once per conversation, cycle and type.

ALTER TABLE sla_policies
    -- The longest a customer's new message may wait for an agent's answer (null: untracked).
    ADD COLUMN next_response_minutes INTEGER CHECK (next_response_minutes > 0),
    -- omnistream/sla/hours.py BusinessHoursSpec: timezone, always (24/7), weekly, holidays.
    ADD COLUMN business_hours JSONB NOT NULL
        DEFAULT '{"timezone": "Asia/Jakarta", "always": true, "weekly": {}, "holidays": []}',
    -- sla.warning goes out when this share of a target's time has passed.
    ADD COLUMN warning_percent INTEGER NOT NULL DEFAULT 80 CHECK (warning_percent BETWEEN 1 AND 99),
    ADD COLUMN created_by UUID REFERENCES agents (id) ON DELETE SET NULL,
    ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX sla_policies_recent_idx ON sla_policies (priority DESC, created_at, id);

-- A breach is history: it outlives its policy (reports), named as it was.
ALTER TABLE sla_breach_logs DROP CONSTRAINT sla_breach_logs_breach_type_check;
ALTER TABLE sla_breach_logs DROP CONSTRAINT sla_breach_logs_policy_id_fkey;
ALTER TABLE sla_breach_logs DROP CONSTRAINT sla_breach_logs_conversation_id_policy_id_breach_type_key;
ALTER TABLE sla_breach_logs
    ALTER COLUMN policy_id DROP NOT NULL,
    ADD CONSTRAINT sla_breach_logs_policy_id_fkey
        FOREIGN KEY (policy_id) REFERENCES sla_policies (id) ON DELETE SET NULL,
    ADD CONSTRAINT sla_breach_logs_breach_type_check
        CHECK (breach_type IN ('first_response', 'next_response', 'resolution')),
    -- The conversation's SLA cycle: 1 from its creation, one more at each reopen.
    ADD COLUMN cycle INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN due_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN policy_name TEXT NOT NULL DEFAULT '',
    ADD COLUMN division_id UUID REFERENCES divisions (id) ON DELETE SET NULL,
    ADD COLUMN agent_id UUID REFERENCES agents (id) ON DELETE SET NULL,  -- the assignee then
    ADD CONSTRAINT sla_breach_logs_once UNIQUE (conversation_id, cycle, breach_type);
CREATE INDEX sla_breach_logs_recent_idx ON sla_breach_logs (breached_at DESC, id DESC);

ALTER TABLE conversations
    ADD COLUMN sla_policy_id UUID REFERENCES sla_policies (id) ON DELETE SET NULL,
    ADD COLUMN sla_division_id UUID,          -- the division the policy was chosen for
    ADD COLUMN sla_cycle INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN sla_started_at TIMESTAMPTZ,    -- the cycle's start (created or reopened)
    ADD COLUMN sla_first_response_at TIMESTAMPTZ,  -- the cycle's first agent message
    ADD COLUMN sla_waiting_since TIMESTAMPTZ, -- the customer's message an answer is due for
    ADD COLUMN sla_first_response_due_at TIMESTAMPTZ,
    ADD COLUMN sla_next_response_due_at TIMESTAMPTZ,
    ADD COLUMN sla_resolution_due_at TIMESTAMPTZ,
    ADD COLUMN sla_due_at TIMESTAMPTZ,        -- the earliest target not met yet (sort, filter)
    ADD COLUMN sla_check_at TIMESTAMPTZ,      -- when the breach loop must look next
    ADD COLUMN sla_warned TEXT[] NOT NULL DEFAULT '{}',    -- targets warned of (this wait)
    ADD COLUMN sla_breached TEXT[] NOT NULL DEFAULT '{}',  -- targets breached this cycle
    -- One more at every write of the clock: the SLA consumer reads clocks without locking
    -- and writes one back only if nobody (the breach loop) wrote it meanwhile.
    ADD COLUMN sla_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX conversations_sla_check_idx ON conversations (sla_check_at)
    WHERE sla_check_at IS NOT NULL;
CREATE INDEX conversations_sla_due_idx ON conversations (sla_due_at, id)
    WHERE sla_due_at IS NOT NULL;

-- The SLA consumer reads the outbox from the present on: conversations of before keep no
-- clock until their next cycle (a reopen).
INSERT INTO event_consumers (name, position)
SELECT 'sla', COALESCE(max(seq), 0) FROM event_outbox
ON CONFLICT (name) DO NOTHING;
