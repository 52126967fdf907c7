-- The running SLA clocks' schedule, apart from their conversations (docs/sla.md, "Where the
-- clock lives"). Every inbound message rewrites its conversation's row (last_message_at,
-- which five indexes hold, so never a HOT update), and each such write inserted into the
-- two SLA indexes as well: with a policy in use the inbound drain kept 0.86 of its rate
-- without, 0.93 with those indexes gone (bench/sla.py --figure inbound, docs/performance.md).
-- Here the indexed times sit in a narrow table that only the SLA writes, and the clock's
-- own writes to conversations touch no indexed column (HOT updates).
--
-- A row exists while a clock has a next check or a due time: check_at, when the breach loop
-- must look next; due_at, the earliest target not met yet (the inbox's SLA filters and
-- sort). conversations keeps the three due times; the API's sla_due_at is their least.
CREATE TABLE sla_schedule (
    conversation_id UUID PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    check_at        TIMESTAMPTZ,
    due_at          TIMESTAMPTZ,
    CHECK (check_at IS NOT NULL OR due_at IS NOT NULL)
);

INSERT INTO sla_schedule (conversation_id, check_at, due_at)
SELECT id, sla_check_at, sla_due_at FROM conversations
 WHERE sla_check_at IS NOT NULL OR sla_due_at IS NOT NULL;

CREATE INDEX sla_schedule_check_idx ON sla_schedule (check_at) WHERE check_at IS NOT NULL;
CREATE INDEX sla_schedule_due_idx ON sla_schedule (due_at, conversation_id)
    WHERE due_at IS NOT NULL;

DROP INDEX conversations_sla_check_idx;
DROP INDEX conversations_sla_due_idx;
ALTER TABLE conversations DROP COLUMN sla_due_at, DROP COLUMN sla_check_at;
