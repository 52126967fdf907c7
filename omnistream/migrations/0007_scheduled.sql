-- Scheduled messages (issue 5).
--
-- content_json holds the message as the agent gave it (the body of a reply, MessageCreate),
-- so the worker runs it through the same checks as a reply when it is due. Interactive
-- messages (WhatsApp buttons and lists) can be scheduled too; reactions cannot.
-- The worker claims, creates the outbound message and records the outcome in one
-- transaction, so no lease column is needed: a crash rolls the whole claim back.
ALTER TABLE scheduled_messages
    DROP CONSTRAINT scheduled_messages_msg_type_check,
    ADD CONSTRAINT scheduled_messages_msg_type_check CHECK (
        msg_type IN ('text', 'image', 'video', 'audio', 'document', 'interactive', 'template')),
    -- When the worker handled it (sent or failed); `late` compares it with scheduled_at.
    ADD COLUMN processed_at TIMESTAMPTZ,
    -- A remark on how it went out, e.g. that the conversation was resolved by then.
    ADD COLUMN note TEXT CHECK (length(note) <= 1000),
    ADD CONSTRAINT scheduled_messages_error_len CHECK (length(error) <= 2000);

-- The list across conversations pages by (scheduled_at, id); the due index (pending only)
-- and the per-conversation index come from 0001.
CREATE INDEX scheduled_messages_time_idx ON scheduled_messages (scheduled_at, id);

-- A conversation's pending outbound messages in order: the sender's claim
-- (messages/outbound_queries.claim_due) asks for the oldest one of each candidate's
-- conversation. Without it that lookup walks the conversation's whole history from its
-- first message; partial, so it holds only what is waiting to be sent.
CREATE INDEX messages_outbound_pending_idx ON messages (conversation_id, created_at, id)
    WHERE status = 'pending' AND direction = 'outbound';
