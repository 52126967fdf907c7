-- Snooze (issue 17 item 5, docs/inbox.md#snooze): a conversation parked until a time or
-- until the customer's next message, then back to open (by the worker, exactly once).
--
-- A third status rather than a flag beside 'open': every list index is keyed by status
-- (0001, 0026, conversation_labels of 0027), so the open list, the open counts and the
-- label counts leave snoozed conversations out with no change to a query or an index, and
-- status=snoozed is an index read like any other status. kit/enums.py ConversationStatus
-- mirrors the CHECK.
ALTER TABLE conversations DROP CONSTRAINT conversations_status_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_status_check
    CHECK (status IN ('open', 'snoozed', 'resolved'));
ALTER TABLE conversation_labels DROP CONSTRAINT conversation_labels_status_check;
ALTER TABLE conversation_labels ADD CONSTRAINT conversation_labels_status_check
    CHECK (status IN ('open', 'snoozed', 'resolved'));

-- snoozed_until: when it wakes; NULL while snoozed = until the customer's next message.
-- snoozed_at / snoozed_by: when and by whom (the agent's row may be deleted later: SET NULL).
-- All three are NULL unless the conversation is snoozed, and snoozed_at is set exactly when
-- it is, so a stale wake time can never wake an open or resolved conversation.
ALTER TABLE conversations
    ADD COLUMN snoozed_until TIMESTAMPTZ,
    ADD COLUMN snoozed_at TIMESTAMPTZ,
    ADD COLUMN snoozed_by UUID REFERENCES agents (id) ON DELETE SET NULL;
ALTER TABLE conversations ADD CONSTRAINT conversations_snooze_check
    CHECK ((status = 'snoozed') = (snoozed_at IS NOT NULL)
           AND (status = 'snoozed' OR (snoozed_until IS NULL AND snoozed_by IS NULL)));

-- The wake loop's claim: the due snoozes, earliest first. Partial: only the snoozed
-- conversations with a time are in it (a handful next to the open and resolved ones).
CREATE INDEX conversations_snooze_due_idx ON conversations (snoozed_until, id)
    WHERE status = 'snoozed' AND snoozed_until IS NOT NULL;
-- snoozed_by's foreign key: deleting an agent looks up the conversations they snoozed.
CREATE INDEX conversations_snoozed_by_idx ON conversations (snoozed_by)
    WHERE snoozed_by IS NOT NULL;

-- The agent's time zone (IANA name, checked with zoneinfo by the API): "tomorrow 09:00" is
-- 09:00 where the agent is. 'UTC' until they set one on their profile.
ALTER TABLE agents ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC'
    CHECK (length(timezone) BETWEEN 1 AND 64);
