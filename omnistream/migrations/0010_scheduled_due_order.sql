-- Messages scheduled for the same instant go out in the order they were scheduled: the
-- worker's claim orders by (scheduled_at, created_at, id). This index serves that order
-- directly (the due index it replaces had scheduled_at only, leaving a sort of every row
-- due at the same instant to each claim).
CREATE INDEX scheduled_messages_due_order_idx ON scheduled_messages (scheduled_at, created_at, id)
    WHERE status = 'pending';
DROP INDEX scheduled_messages_due_idx;
