-- OmniStream initial schema: every table of docs/data-model.md.
-- Enumerated TEXT columns carry CHECK constraints; the same sets live once in omnistream/kit/enums.py.

-- Agents, divisions, authentication ------------------------------------------------------

CREATE TABLE agents (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email         TEXT NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
    password_hash TEXT NOT NULL,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role          TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    is_active     BOOLEAN NOT NULL DEFAULT true,
    last_seen_at  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX agents_email_key ON agents (email);
CREATE INDEX agents_name_idx ON agents (name, id);
CREATE INDEX agents_active_admins_idx ON agents (id) WHERE role = 'admin' AND is_active;

CREATE TABLE divisions (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX divisions_name_key ON divisions (lower(name));
CREATE INDEX divisions_name_idx ON divisions (name, id);

CREATE TABLE agent_divisions (
    agent_id    UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    division_id UUID NOT NULL REFERENCES divisions (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, division_id)
);
CREATE INDEX agent_divisions_division_idx ON agent_divisions (division_id, agent_id);

-- One login = one session; each refresh rotates the session's refresh token.
CREATE TABLE auth_sessions (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id     UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ,
    user_agent   TEXT,
    ip           TEXT
);
CREATE INDEX auth_sessions_agent_idx ON auth_sessions (agent_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,          -- sha256 of the opaque token; the token is never stored
    session_id  UUID NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at     TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE login_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        TEXT NOT NULL,
    succeeded    BOOLEAN NOT NULL,
    ip           TEXT,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email_idx ON login_attempts (email, attempted_at DESC);

-- Contacts and conversations -------------------------------------------------------------

CREATE TABLE contacts (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    phone           TEXT CHECK (phone ~ '^[0-9]{5,20}$'),      -- WhatsApp id: digits only
    email           TEXT CHECK (email = lower(email)),
    name            TEXT NOT NULL DEFAULT '',
    profile_pic_url TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_phone_key ON contacts (phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX contacts_email_key ON contacts (email) WHERE email IS NOT NULL;
CREATE INDEX contacts_name_idx ON contacts (name, id);
CREATE INDEX contacts_created_idx ON contacts (created_at DESC, id DESC);

-- Decision: the seed's contacts.external_id is a per-channel identity here, so one contact
-- can carry an Instagram-scoped id and a Messenger page-scoped id after a merge.
CREATE TABLE contact_identities (
    channel     TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    external_id TEXT NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
    contact_id  UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX contact_identities_contact_idx ON contact_identities (contact_id);

CREATE TABLE integrations (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel           TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    credentials_json  JSONB NOT NULL DEFAULT '{}',   -- secrets encrypted by the application
    is_active         BOOLEAN NOT NULL DEFAULT true,
    health            TEXT NOT NULL DEFAULT 'unknown'
                      CHECK (health IN ('unknown', 'ok', 'auth_failed', 'unreachable')),
    health_error      TEXT,
    health_checked_at TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE integration_accounts (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    integration_id UUID NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    external_id    TEXT NOT NULL CHECK (length(external_id) BETWEEN 1 AND 320),
    display_name   TEXT NOT NULL DEFAULT '',
    is_default     BOOLEAN NOT NULL DEFAULT false,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX integration_accounts_external_key ON integration_accounts (integration_id, external_id);
CREATE INDEX integration_accounts_route_idx ON integration_accounts (external_id);
CREATE UNIQUE INDEX integration_accounts_one_default ON integration_accounts (integration_id) WHERE is_default;

CREATE TABLE conversations (
    id                     UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    contact_id             UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    assigned_agent_id      UUID REFERENCES agents (id) ON DELETE SET NULL,
    division_id            UUID REFERENCES divisions (id) ON DELETE SET NULL,
    channel                TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    integration_account_id UUID REFERENCES integration_accounts (id) ON DELETE SET NULL,
    status                 TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    last_message_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_message_preview   TEXT NOT NULL DEFAULT '',
    last_inbound_at        TIMESTAMPTZ,            -- opens the channel's customer-service window
    unread_count           INTEGER NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at            TIMESTAMPTZ,
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE INDEX conversations_status_recent_idx ON conversations (status, last_message_at DESC, id DESC);
CREATE INDEX conversations_assignee_recent_idx
    ON conversations (assigned_agent_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_division_recent_idx
    ON conversations (division_id, status, last_message_at DESC, id DESC);
-- The unassigned pools agents pick from (per division, and with no division).
CREATE INDEX conversations_unassigned_division_idx
    ON conversations (division_id, status, last_message_at DESC, id DESC) WHERE assigned_agent_id IS NULL;
CREATE INDEX conversations_unassigned_nodivision_idx
    ON conversations (status, last_message_at DESC, id DESC)
    WHERE assigned_agent_id IS NULL AND division_id IS NULL;
CREATE INDEX conversations_contact_idx ON conversations (contact_id, last_message_at DESC);
CREATE INDEX conversations_created_idx ON conversations (created_at DESC, id DESC);

CREATE TABLE conversation_notes (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    agent_id        UUID REFERENCES agents (id) ON DELETE SET NULL,
    body            TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX conversation_notes_conversation_idx ON conversation_notes (conversation_id, created_at DESC);

CREATE TABLE conversation_transfers (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id  UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    from_agent_id    UUID REFERENCES agents (id) ON DELETE SET NULL,
    to_agent_id      UUID REFERENCES agents (id) ON DELETE SET NULL,
    from_division_id UUID REFERENCES divisions (id) ON DELETE SET NULL,
    to_division_id   UUID REFERENCES divisions (id) ON DELETE SET NULL,
    transferred_by   UUID REFERENCES agents (id) ON DELETE SET NULL,
    reason           TEXT NOT NULL DEFAULT '',
    transferred_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX conversation_transfers_conversation_idx ON conversation_transfers (conversation_id, transferred_at);

-- Messages (MongoDB in the seed; PostgreSQL here so counters commit with the insert) ------

CREATE TABLE messages (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id    UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel            TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    channel_message_id TEXT,
    direction          TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    type               TEXT NOT NULL CHECK (type IN ('text', 'image', 'video', 'audio', 'document',
                           'sticker', 'location', 'contacts', 'interactive', 'template', 'reaction',
                           'button', 'unsupported', 'system')),
    content            JSONB NOT NULL DEFAULT '{}',
    reply_to_id        UUID REFERENCES messages (id) ON DELETE SET NULL,
    media_id           UUID,
    status             TEXT NOT NULL CHECK (status IN ('received', 'pending', 'sent', 'delivered', 'read', 'failed')),
    sender_agent_id    UUID REFERENCES agents (id) ON DELETE SET NULL,
    error_code         TEXT,
    error_reason       TEXT,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at            TIMESTAMPTZ,
    delivered_at       TIMESTAMPTZ,
    read_at            TIMESTAMPTZ,
    failed_at          TIMESTAMPTZ
);
CREATE UNIQUE INDEX messages_channel_message_key ON messages (channel, channel_message_id)
    WHERE channel_message_id IS NOT NULL;
CREATE INDEX messages_timeline_idx ON messages (conversation_id, created_at DESC, id DESC);
CREATE INDEX messages_outbound_due_idx ON messages (next_attempt_at)
    WHERE status = 'pending' AND direction = 'outbound';

CREATE TABLE webhook_audit (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel         TEXT NOT NULL CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger', 'meta')),
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    headers         JSONB NOT NULL DEFAULT '{}',
    body            BYTEA NOT NULL,
    signature_valid BOOLEAN NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processed', 'failed', 'rejected', 'unroutable')),
    error           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    processed_at    TIMESTAMPTZ
);
CREATE INDEX webhook_audit_pending_idx ON webhook_audit (id) WHERE status = 'pending';
CREATE INDEX webhook_audit_received_idx ON webhook_audit (received_at DESC);

-- Transactional outbox of domain events. `pos` is insert order; `seq` is publication order,
-- given by the single dispatcher in the order commits become visible, so a client resuming
-- "after seq N" can never miss an event that committed late with a lower `pos`.
CREATE SEQUENCE event_outbox_seq;
CREATE TABLE event_outbox (
    pos             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq             BIGINT UNIQUE,
    id              UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    type            TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor           JSONB,
    data            JSONB NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    conversation_id UUID,
    -- Who may receive it: the conversation states [{"division_id", "assigned_agent_id"}]
    -- (before and after a change); an empty list means admins and supervisors only.
    audience        JSONB NOT NULL DEFAULT '[]',
    published_at    TIMESTAMPTZ
);
CREATE INDEX event_outbox_unpublished_idx ON event_outbox (pos) WHERE seq IS NULL;
CREATE INDEX event_outbox_occurred_idx ON event_outbox (occurred_at);

-- Files: agent uploads and (later) inbound channel media; served only to agents who may
-- see the conversation.
CREATE TABLE media (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id  UUID REFERENCES conversations (id) ON DELETE CASCADE,
    uploaded_by      UUID REFERENCES agents (id) ON DELETE SET NULL,
    origin           TEXT NOT NULL CHECK (origin IN ('upload', 'inbound')),
    status           TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('pending', 'ready', 'failed')),
    filename         TEXT NOT NULL DEFAULT '',
    mime_type        TEXT NOT NULL,
    size_bytes       BIGINT CHECK (size_bytes >= 0),
    sha256           TEXT,
    storage_path     TEXT,
    channel_media_id TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX media_conversation_idx ON media (conversation_id);
ALTER TABLE messages ADD CONSTRAINT messages_media_fk FOREIGN KEY (media_id) REFERENCES media (id) ON DELETE SET NULL;

-- Reply tools ------------------------------------------------------------------------------

CREATE TABLE quick_replies (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    division_id UUID REFERENCES divisions (id) ON DELETE CASCADE,   -- NULL: everyone
    title       TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    media_url   TEXT,
    created_by  UUID REFERENCES agents (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX quick_replies_division_idx ON quick_replies (division_id, title);

CREATE TABLE agent_favorite_replies (
    agent_id       UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    quick_reply_id UUID NOT NULL REFERENCES quick_replies (id) ON DELETE CASCADE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, quick_reply_id)
);

CREATE TABLE wa_templates (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    integration_id   UUID NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    external_id      TEXT,                          -- Meta's template id
    name             TEXT NOT NULL,
    language         TEXT NOT NULL,
    category         TEXT NOT NULL CHECK (category IN ('AUTHENTICATION', 'MARKETING', 'UTILITY')),
    status           TEXT NOT NULL CHECK (status IN ('APPROVED', 'PENDING', 'REJECTED', 'PAUSED', 'DISABLED')),
    parameter_format TEXT NOT NULL DEFAULT 'POSITIONAL' CHECK (parameter_format IN ('POSITIONAL', 'NAMED')),
    header_type      TEXT CHECK (header_type IN ('TEXT', 'IMAGE', 'VIDEO', 'DOCUMENT', 'LOCATION')),
    header_media_url TEXT,
    body_text        TEXT NOT NULL DEFAULT '',
    footer_text      TEXT,
    components_json  JSONB NOT NULL DEFAULT '[]',
    removed_at_meta  TIMESTAMPTZ,                   -- gone at Meta; kept while referenced
    synced_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (integration_id, name, language)
);

-- Campaigns and scheduled messages -------------------------------------------------------

CREATE TABLE campaigns (
    id                     UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name                   TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    template_id            UUID REFERENCES wa_templates (id) ON DELETE SET NULL,
    status                 TEXT NOT NULL DEFAULT 'draft'
                           CHECK (status IN ('draft', 'scheduled', 'running', 'completed', 'failed')),
    scheduled_at           TIMESTAMPTZ,
    integration_account_id UUID REFERENCES integration_accounts (id) ON DELETE SET NULL,
    created_by             UUID REFERENCES agents (id) ON DELETE SET NULL,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_due_idx ON campaigns (scheduled_at) WHERE status = 'scheduled';

CREATE TABLE campaign_recipients (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id     UUID NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    phone           TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'delivered', 'failed')),
    conversation_id UUID REFERENCES conversations (id) ON DELETE SET NULL,
    sent_at         TIMESTAMPTZ,
    error_message   TEXT,
    UNIQUE (campaign_id, phone)
);
CREATE INDEX campaign_recipients_pending_idx ON campaign_recipients (campaign_id) WHERE status = 'pending';

CREATE TABLE scheduled_messages (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    agent_id        UUID REFERENCES agents (id) ON DELETE SET NULL,
    msg_type        TEXT NOT NULL CHECK (msg_type IN ('text', 'image', 'video', 'audio', 'document', 'template')),
    content_json    JSONB NOT NULL,
    scheduled_at    TIMESTAMPTZ NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'cancelled', 'failed')),
    message_id      UUID REFERENCES messages (id) ON DELETE SET NULL,
    error           TEXT,
    late            BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX scheduled_messages_due_idx ON scheduled_messages (scheduled_at) WHERE status = 'pending';
CREATE INDEX scheduled_messages_conversation_idx ON scheduled_messages (conversation_id, scheduled_at);

-- SLA, CSAT, outgoing webhooks, activity log ----------------------------------------------

CREATE TABLE sla_policies (
    id                     UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name                   TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    channel                TEXT CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    division_id            UUID REFERENCES divisions (id) ON DELETE CASCADE,
    first_response_minutes INTEGER NOT NULL CHECK (first_response_minutes > 0),
    resolution_minutes     INTEGER NOT NULL CHECK (resolution_minutes > 0),
    -- Specificity: channel+division 4, division or channel 2, default 1 (data-model.md).
    priority               INTEGER GENERATED ALWAYS AS (
                               CASE WHEN channel IS NOT NULL AND division_id IS NOT NULL THEN 4
                                    WHEN channel IS NOT NULL OR division_id IS NOT NULL THEN 2
                                    ELSE 1 END) STORED,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sla_policies_scope_key ON sla_policies
    (COALESCE(channel, ''), COALESCE(division_id, '00000000-0000-0000-0000-000000000000'::uuid));

CREATE TABLE sla_breach_logs (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    policy_id       UUID NOT NULL REFERENCES sla_policies (id) ON DELETE CASCADE,
    breach_type     TEXT NOT NULL CHECK (breach_type IN ('first_response', 'resolution')),
    breached_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, policy_id, breach_type)
);

CREATE TABLE csat_surveys (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    contact_id      UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    score           INTEGER CHECK (score BETWEEN 1 AND 5),
    feedback        TEXT,
    survey_sent_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    responded_at    TIMESTAMPTZ
);
CREATE INDEX csat_surveys_conversation_idx ON csat_surveys (conversation_id);

CREATE TABLE outgoing_webhooks (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,                 -- encrypted by the application
    events     TEXT[] NOT NULL DEFAULT '{}',
    is_active  BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    webhook_id    UUID NOT NULL REFERENCES outgoing_webhooks (id) ON DELETE CASCADE,
    event_type    TEXT NOT NULL,
    payload_json  JSONB NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'success', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_retry_at TIMESTAMPTZ,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_retry_at) WHERE status = 'pending';

CREATE TABLE activity_logs (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id      UUID REFERENCES agents (id) ON DELETE SET NULL,   -- NULL: system or unknown login
    action        TEXT NOT NULL,
    target_type   TEXT,
    target_id     UUID,
    metadata_json JSONB NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX activity_logs_recent_idx ON activity_logs (created_at DESC, id DESC);
CREATE INDEX activity_logs_agent_idx ON activity_logs (agent_id, created_at DESC, id DESC);
CREATE INDEX activity_logs_action_idx ON activity_logs (action, created_at DESC, id DESC);
CREATE INDEX activity_logs_target_idx ON activity_logs (target_type, target_id, created_at DESC);
