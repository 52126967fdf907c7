-- Labels (issue 17, docs/inbox.md#labels): tags an admin defines (name, colour, description)
-- and agents put on the conversations they may work.
CREATE TABLE labels (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 50 AND name ~ '\S'),
    colour      TEXT NOT NULL CHECK (colour ~ '^#[0-9a-f]{6}$'),
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX labels_name_key ON labels (lower(name));

-- A label on a conversation. status, division_id and assigned_agent_id are the
-- conversation's own, copied here and kept equal by the trigger below (they change seldom:
-- a resolve, a reopen, an assignment, a transfer; never on an ordinary message). With them a
-- label's rows can be read within a caller's visibility from this table alone:
--
-- * Counts per label (GET /labels/counts): each visibility branch (see
--   conversations/queries.py) is a range of conversation_labels_label_idx or, for "assigned
--   to me", of conversation_labels_assignee_idx, counted up to the cap without touching
--   conversations. Read through conversations they would cost a random heap read per
--   labelled conversation (a 5 % label of the 1M seed: 50,000 of them, per label).
-- * The list's label filter (GET /conversations?label=a,b) adds to each branch
--   `EXISTS (SELECT 1 FROM conversation_labels l WHERE l.conversation_id = c.id AND
--   l.label_id IN (a, b) AND <the branch's equalities on l>)`. PostgreSQL then picks per
--   branch the cheaper of two plans: walk the branch's own (…, last_message_at DESC, id DESC)
--   index, newest first, probing the primary key per row until the page is full (a common
--   label: ~50 / share rows), or start from the label's rows of that branch (this index),
--   fetch those conversations and keep the newest (a rare label). Either reads about
--   sqrt(50 x branch size) rows at worst, a few thousand on the 1M seed.
--
-- Rejected: conversations.label_ids uuid[] with a GIN index. The walk would save the probe,
-- but GIN gives neither an order nor counts without reading every labelled conversation's
-- row, and every update of a labelled conversation (each message) would write the GIN
-- index. last_message_at is not copied here for the same reason: keeping it would rewrite
-- these rows on every message of a labelled conversation, the inbound hot path.
CREATE TABLE conversation_labels (
    conversation_id   UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    label_id          UUID NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    added_by          UUID REFERENCES agents (id) ON DELETE SET NULL,
    added_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    status            TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    division_id       UUID,
    assigned_agent_id UUID,
    PRIMARY KEY (conversation_id, label_id)
);
-- Also the index of the label's foreign key (ON DELETE CASCADE reads it). The conversation
-- id is included: reading a branch's label rows first is an index-only range.
CREATE INDEX conversation_labels_label_idx
    ON conversation_labels (label_id, status, division_id, assigned_agent_id)
    INCLUDE (conversation_id);
CREATE INDEX conversation_labels_assignee_idx
    ON conversation_labels (assigned_agent_id, label_id, status) INCLUDE (conversation_id)
    WHERE assigned_agent_id IS NOT NULL;

-- After any write that changes a conversation's status, division or assignee (the API's
-- actions, an inbound message reopening it, ON DELETE SET NULL of an agent or a division):
-- its label rows follow in the same transaction. Writes that change none of the three
-- (messages, read marks, SLA times) only evaluate the WHEN clause.
CREATE FUNCTION conversation_labels_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversation_labels
       SET status = NEW.status, division_id = NEW.division_id,
           assigned_agent_id = NEW.assigned_agent_id
     WHERE conversation_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER conversation_labels_follow
    AFTER UPDATE OF status, division_id, assigned_agent_id ON conversations
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.division_id IS DISTINCT FROM NEW.division_id
          OR OLD.assigned_agent_id IS DISTINCT FROM NEW.assigned_agent_id)
    EXECUTE FUNCTION conversation_labels_follow();

-- A conversation's labels as every payload carries them ([{id, name, colour}], by name).
-- Writers read them with the row they just updated (`WITH c AS (UPDATE ... RETURNING *)
-- SELECT ..., conversation_labels_json(c.id) FROM c`): a subquery there would read the
-- statement's snapshot, taken before the row lock was waited for, and miss a label another
-- transaction added or removed meanwhile (it holds the same row lock); its event would then
-- carry the labels as they were, with a newer updated_at. A VOLATILE PL/pgSQL function takes
-- a fresh snapshot for its query, after the lock: it sees every label change committed before.
CREATE FUNCTION conversation_labels_json(conversation UUID) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN COALESCE((SELECT jsonb_agg(jsonb_build_object('id', l.id, 'name', l.name,
                                                         'colour', l.colour)
                                      ORDER BY l.name, l.id)
                       FROM conversation_labels cl JOIN labels l ON l.id = cl.label_id
                      WHERE cl.conversation_id = conversation), '[]');
END
$$;
