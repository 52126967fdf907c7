-- The contacts screen (issue 17, docs/contacts.md): admin-defined custom attributes, their
-- values on contacts, and notes about a contact.

-- An attribute an admin defines. `key` is what the API and the CSV columns use (immutable);
-- `label` what people read. A list attribute takes one of its `options`.
CREATE TABLE contact_attribute_definitions (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    key        TEXT NOT NULL UNIQUE CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
    label      TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 100 AND label ~ '\S'),
    type       TEXT NOT NULL CHECK (type IN ('text', 'number', 'date', 'list')),
    options    TEXT[] NOT NULL DEFAULT '{}'
               CHECK (cardinality(options) <= 100 AND (type = 'list') = (cardinality(options) > 0)),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- {key: value} of the defined attributes. The application validates every value against its
-- definition (text: a string, number: a JSON number, date: "YYYY-MM-DD", list: one of the
-- options); deleting a definition removes its key from every contact in the same transaction.
-- A constant default: adding the column does not rewrite the table.
ALTER TABLE contacts
    ADD COLUMN attributes JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object');

-- Notes about a contact (not about one conversation): whoever may see the contact reads
-- them; the author (or an admin) deletes them. They follow the contact on a merge.
CREATE TABLE contact_notes (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    contact_id UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    author_id  UUID REFERENCES agents (id) ON DELETE SET NULL,
    body       TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX contact_notes_contact_idx ON contact_notes (contact_id, created_at DESC, id DESC);
