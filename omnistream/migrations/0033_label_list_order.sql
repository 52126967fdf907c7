-- Label filters in last-message order (issue 17: list p95 <= 15 ms with label filters).
--
-- 0027 left last_message_at out of conversation_labels, so a label filter either walked the
-- branch's conversations newest first probing each for the label (slow for a rare label) or
-- read all the branch's label rows and sorted their conversations (slow for a common one):
-- 27 ms p95 on the 1M seed. With the time here, each branch of a labelled list is one range
-- of one index below in the list's own order, stopping at the page's LIMIT, whatever the
-- label's share. The price, weighed in docs/performance.md: a message on a labelled
-- conversation also rewrites its label rows (one or two, in the same transaction), and a
-- message on any conversation evaluates the trigger's WHEN clause and, when last_message_at
-- moved, probes this table's primary key once.
ALTER TABLE conversation_labels ADD COLUMN last_message_at TIMESTAMPTZ;
UPDATE conversation_labels l SET last_message_at = c.last_message_at
  FROM conversations c WHERE c.id = l.conversation_id;
ALTER TABLE conversation_labels ALTER COLUMN last_message_at SET NOT NULL;

-- The list's branch shapes (conversations/queries.py visibility_branches), each followed by
-- the label and the status, then the order: everything (admins; also the label's foreign
-- key), an assignee's, a division's (supervisors), and a division's unassigned pool (agents).
DROP INDEX conversation_labels_label_idx;
DROP INDEX conversation_labels_assignee_idx;
CREATE INDEX conversation_labels_label_idx
    ON conversation_labels (label_id, status, last_message_at DESC, conversation_id DESC);
CREATE INDEX conversation_labels_assignee_idx
    ON conversation_labels (assigned_agent_id, label_id, status, last_message_at DESC,
                            conversation_id DESC)
    WHERE assigned_agent_id IS NOT NULL;
CREATE INDEX conversation_labels_division_idx
    ON conversation_labels (division_id, label_id, status, last_message_at DESC,
                            conversation_id DESC);
CREATE INDEX conversation_labels_pool_idx
    ON conversation_labels (division_id, label_id, status, last_message_at DESC,
                            conversation_id DESC)
    WHERE assigned_agent_id IS NULL;

-- The copies follow the conversation (0027's trigger, now with last_message_at too).
CREATE OR REPLACE FUNCTION conversation_labels_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversation_labels
       SET status = NEW.status, division_id = NEW.division_id,
           assigned_agent_id = NEW.assigned_agent_id, last_message_at = NEW.last_message_at
     WHERE conversation_id = NEW.id;
    RETURN NULL;
END
$$;
DROP TRIGGER conversation_labels_follow ON conversations;
CREATE TRIGGER conversation_labels_follow
    AFTER UPDATE OF status, division_id, assigned_agent_id, last_message_at ON conversations
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.division_id IS DISTINCT FROM NEW.division_id
          OR OLD.assigned_agent_id IS DISTINCT FROM NEW.assigned_agent_id
          OR OLD.last_message_at IS DISTINCT FROM NEW.last_message_at)
    EXECUTE FUNCTION conversation_labels_follow();

-- A new label row takes its copies from the conversation, whoever inserts it (the labels
-- service, bulk actions, the bench seed), so no writer can leave one stale.
CREATE FUNCTION conversation_labels_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.status, c.division_id, c.assigned_agent_id, c.last_message_at
      INTO NEW.status, NEW.division_id, NEW.assigned_agent_id, NEW.last_message_at
      FROM conversations c WHERE c.id = NEW.conversation_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER conversation_labels_copy
    BEFORE INSERT ON conversation_labels
    FOR EACH ROW EXECUTE FUNCTION conversation_labels_copy();
