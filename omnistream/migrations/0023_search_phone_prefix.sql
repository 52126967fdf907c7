-- Search (docs/search.md): a number written the national way ("0812…") is looked for as
-- the start of stored numbers ("62812…"). In Indonesia such a prefix is the start of a
-- large share of all numbers, and the trigram index hands over every one of those contacts
-- as a heap row (8,700 of the bench seed's 1M: 190 ms). This index reads the prefix as a
-- range and gives the contact ids without touching the table (27 ms). It adds a btree entry
-- only when a contact is created or its phone changes.
CREATE INDEX contacts_phone_prefix_idx ON contacts (phone text_pattern_ops) INCLUDE (id)
    WHERE phone IS NOT NULL;
