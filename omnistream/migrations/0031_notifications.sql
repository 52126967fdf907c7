-- Mentions and notifications (issue 17 item 7, docs/inbox.md#mentions-and-notifications).
--
-- The agents a note mentions, in the order written. An array on the note (not a table of
-- its own): it is written once with the note, never changed, read with the note, and the
-- "mentions" view reads notifications, not notes.
ALTER TABLE conversation_notes
    ADD COLUMN mentions UUID[] NOT NULL DEFAULT '{}'
        CHECK (cardinality(mentions) <= 20);

-- One agent's in-app notification: someone mentioned them in a note ('mention'), a snoozed
-- conversation of theirs woke up ('snooze_ended'), ... kind is checked in Python
-- (notifications/service.py NotificationKind) so a new kind needs no migration.
-- data holds what the list shows without another join (e.g. the note's excerpt); what may
-- change or stop being visible (the contact's name, the conversation itself) is read when
-- listing, within the recipient's visibility.
CREATE TABLE notifications (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    recipient_id    UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,39}$'),
    conversation_id UUID REFERENCES conversations (id) ON DELETE CASCADE,
    note_id         UUID REFERENCES conversation_notes (id) ON DELETE CASCADE,
    actor_id        UUID REFERENCES agents (id) ON DELETE SET NULL,
    data            JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(data) = 'object'),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    read_at         TIMESTAMPTZ
);
-- "My newest" (keyset pages, optionally of one kind: few kinds, so a filter on the range).
CREATE INDEX notifications_recipient_idx
    ON notifications (recipient_id, created_at DESC, id DESC);
-- "My unread" (the bell's count and the unread filter): only unread rows, usually a few.
CREATE INDEX notifications_unread_idx
    ON notifications (recipient_id, created_at DESC, id DESC) WHERE read_at IS NULL;
-- A deleted note or conversation deletes its notifications (cascades look them up).
CREATE INDEX notifications_conversation_idx ON notifications (conversation_id)
    WHERE conversation_id IS NOT NULL;
CREATE INDEX notifications_note_idx ON notifications (note_id) WHERE note_id IS NOT NULL;
