-- Automatic assignment (issue 17 item 2, docs/inbox.md#automatic-assignment).
--
-- Off by default: a division takes part once an admin switches it on (a row here with
-- enabled); the row with division_id NULL is the global setting, which decides for the
-- conversations that have no division. A division's row goes with the division.
CREATE TABLE assignment_settings (
    division_id UUID REFERENCES divisions (id) ON DELETE CASCADE,
    enabled     BOOLEAN NOT NULL DEFAULT false,
    updated_by  UUID REFERENCES agents (id) ON DELETE SET NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (division_id)
);

-- How many open conversations automatic assignment may give an agent in all (0: none, so
-- an admin or a trainee can stay out of it), and optionally per channel (a row only where
-- a channel has a lower limit of its own).
ALTER TABLE agents
    ADD COLUMN capacity INTEGER NOT NULL DEFAULT 10 CHECK (capacity BETWEEN 0 AND 1000);
CREATE TABLE agent_channel_capacities (
    agent_id UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    channel  TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    capacity INTEGER NOT NULL CHECK (capacity BETWEEN 0 AND 1000),
    PRIMARY KEY (agent_id, channel)
);

-- Round robin among the agents with the fewest open conversations: of those, the one whose
-- last automatic assignment is the oldest (no row: never, first). `turn` grows by one with
-- each automatic assignment; assignments are made by one worker at a time (the consumer's
-- position row lock), so the order is total.
CREATE TABLE assignment_turns (
    agent_id UUID PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    turn     BIGINT NOT NULL
);

-- The waiting queue of each division (and of no division), oldest first.
CREATE INDEX conversations_waiting_idx ON conversations (division_id, created_at, id)
    WHERE status = 'open' AND assigned_agent_id IS NULL;

-- The assignment consumer reads the outbox from the present on.
INSERT INTO event_consumers (name, position)
SELECT 'assignment', COALESCE(max(seq), 0) FROM event_outbox
ON CONFLICT (name) DO NOTHING;
