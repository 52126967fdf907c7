-- Messenger and Instagram customers get their names from the Graph API's user profile
-- (contacts/worker.py). The inbound batch never calls Meta: it marks the sender's identity
-- due, and the profile loop claims due identities (FOR UPDATE SKIP LOCKED, under a lease).

-- Who set the contact's name: 'channel' (a WhatsApp profile name or a profile lookup: later
-- lookups may refresh it) or 'agent' (typed by a person: never overwritten by a channel).
ALTER TABLE contacts
    ADD COLUMN name_source TEXT NOT NULL DEFAULT 'channel'
        CHECK (name_source IN ('channel', 'agent'));
-- Before this migration no Messenger / Instagram name came from a channel (page webhooks
-- carry none), so an existing name on such a contact was typed by a person: keep it.
UPDATE contacts k SET name_source = 'agent'
 WHERE k.name <> ''
   AND EXISTS (SELECT 1 FROM contact_identities i
                WHERE i.contact_id = k.id AND i.channel IN ('messenger', 'instagram'));

ALTER TABLE contact_identities
    -- The account that received the customer's message: its page token looks them up.
    ADD COLUMN profile_account_id UUID REFERENCES integration_accounts (id) ON DELETE SET NULL,
    -- The worker looks the profile up from this time on (NULL: nothing scheduled); a claim
    -- moves it past the lease.
    ADD COLUMN profile_due_at TIMESTAMPTZ,
    -- Tries of the current lookup (the claim counts them; the backoff reads them).
    ADD COLUMN profile_attempts INTEGER NOT NULL DEFAULT 0 CHECK (profile_attempts >= 0),
    -- A customer's message marks a lookup due only from this time on: the refresh interval
    -- after a lookup, a long pause after Meta said the user cannot be looked up.
    ADD COLUMN profile_not_before TIMESTAMPTZ,
    -- When the last lookup settled (fetched, refused by Meta, or given up), and why not.
    ADD COLUMN profile_checked_at TIMESTAMPTZ,
    ADD COLUMN profile_error TEXT;
CREATE INDEX contact_identities_profile_due_idx ON contact_identities (profile_due_at)
    WHERE profile_due_at IS NOT NULL;
