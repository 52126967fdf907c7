-- Conversation priority (issue 17, docs/inbox.md): none / low / medium / high / urgent.
--
-- Text with a CHECK (kit/enums.py Priority mirrors it), 'none' by default: readable in the
-- API, events and SQL alike; the rank order (urgent first) is the application's, never the
-- text's. The list reads a priority as an equality, one index branch per value (a filter
-- "high,urgent" is two branches; sort=priority reads urgent, high, medium, low, then none,
-- each in last_message_at order, and merges), exactly as it reads statuses.
ALTER TABLE conversations ADD COLUMN priority TEXT NOT NULL DEFAULT 'none'
    CHECK (priority IN ('none', 'low', 'medium', 'high', 'urgent'));

-- The same five list shapes as the plain list's indexes (0001: everything by status, an
-- assignee's, a division's, and the unassigned pools with and without a division), with the
-- priority between status and last_message_at, so "these equalities, priority = X, newest
-- first, after the cursor" is one index range read up to the page's LIMIT on a 1M-row
-- table. Partial (priority <> 'none'): the conversations nobody prioritised, the bulk of
-- them, are not in these indexes at all, so an inbound message on one of them (which
-- rewrites last_message_at) costs nothing more than before; 'none' branches read the plain
-- indexes with priority = 'none' as a filter that almost every row passes. The list writes
-- priority values as literals, so PostgreSQL proves the predicate even for generic plans.
CREATE INDEX conversations_priority_status_idx
    ON conversations (status, priority, last_message_at DESC, id DESC)
    WHERE priority <> 'none';
CREATE INDEX conversations_priority_assignee_idx
    ON conversations (assigned_agent_id, status, priority, last_message_at DESC, id DESC)
    WHERE priority <> 'none';
CREATE INDEX conversations_priority_division_idx
    ON conversations (division_id, status, priority, last_message_at DESC, id DESC)
    WHERE priority <> 'none';
CREATE INDEX conversations_priority_unassigned_division_idx
    ON conversations (division_id, status, priority, last_message_at DESC, id DESC)
    WHERE assigned_agent_id IS NULL AND priority <> 'none';
CREATE INDEX conversations_priority_unassigned_nodivision_idx
    ON conversations (status, priority, last_message_at DESC, id DESC)
    WHERE assigned_agent_id IS NULL AND division_id IS NULL AND priority <> 'none';
