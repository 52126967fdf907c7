-- WhatsApp templates (issue 5): what the sync and the status webhook keep besides 0001's columns.

-- Meta's reason for the last status change (a rejection reason, why it was paused or
-- flagged); the time of the status we hold, as Meta stated it (a sync: when the listing was
-- fetched; a webhook: its entry.time), so a late redelivery of an older webhook cannot
-- overwrite a newer status; and when anything about the template last changed.
ALTER TABLE wa_templates
    ADD COLUMN status_reason     TEXT,
    ADD COLUMN status_updated_at TIMESTAMPTZ,
    ADD COLUMN updated_at        TIMESTAMPTZ NOT NULL DEFAULT now();

-- The list's keyset order, and the webhook's lookup by Meta's template id.
CREATE INDEX wa_templates_list_idx ON wa_templates (name, language, id);
CREATE INDEX wa_templates_external_idx ON wa_templates (integration_id, external_id);

-- The last sync of each integration's templates: the periodic tick syncs integrations whose
-- last attempt is older than OMNISTREAM_TEMPLATE_SYNC_SECONDS, and admins see why one failed.
CREATE TABLE wa_template_syncs (
    integration_id UUID PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    attempted_at   TIMESTAMPTZ NOT NULL,
    succeeded_at   TIMESTAMPTZ,
    error          TEXT,                  -- NULL when the last attempt succeeded
    added          INTEGER NOT NULL DEFAULT 0,
    updated        INTEGER NOT NULL DEFAULT 0,
    removed        INTEGER NOT NULL DEFAULT 0
);
