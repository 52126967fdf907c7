-- CSAT surveys after resolve (issue 14, omnistream/csat/). The CSAT consumer reads the
-- outbox from its own position: at each conversation.resolved it records a survey (sent, or
-- skipped with the reason) and queues the survey message; answers arrive as inbound
-- messages (a button / list / quick-reply id `csat:<survey id>:<score>`, a 1-5 text, the
-- feedback text after an answer) or through the public page (a per-survey token).

ALTER TABLE csat_surveys
    ALTER COLUMN survey_sent_at DROP NOT NULL,   -- when the channel accepted the message
    ALTER COLUMN survey_sent_at DROP DEFAULT,
    ADD COLUMN status TEXT NOT NULL DEFAULT 'sent'
        CHECK (status IN ('pending', 'sent', 'answered', 'skipped', 'failed')),
    ADD COLUMN skip_reason TEXT,                 -- skipped: window_closed, recent_survey, ...
    ADD COLUMN channel TEXT CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger')),
    ADD COLUMN division_id UUID REFERENCES divisions (id) ON DELETE SET NULL,
    ADD COLUMN agent_id UUID REFERENCES agents (id) ON DELETE SET NULL,  -- the assignee at resolve
    ADD COLUMN language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'id')),
    ADD COLUMN message_id UUID REFERENCES messages (id) ON DELETE SET NULL,  -- the survey message
    ADD COLUMN answer_message_id UUID REFERENCES messages (id) ON DELETE SET NULL,
    ADD COLUMN token_hash BYTEA,                 -- sha256 of the page link's token
    ADD COLUMN expires_at TIMESTAMPTZ,
    ADD COLUMN answered_via TEXT CHECK (answered_via IN ('button', 'page', 'text')),
    ADD COLUMN feedback_at TIMESTAMPTZ,
    ADD COLUMN resolve_event_id UUID,            -- the conversation.resolved it answers
    ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD CONSTRAINT csat_surveys_feedback_length CHECK (length(feedback) <= 2000);
-- One survey per resolve (a redone consumer batch inserts nothing twice).
CREATE UNIQUE INDEX csat_surveys_resolve_key ON csat_surveys (conversation_id, resolve_event_id);
CREATE UNIQUE INDEX csat_surveys_token_key ON csat_surveys (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX csat_surveys_message_idx ON csat_surveys (message_id) WHERE message_id IS NOT NULL;
-- The per-contact limit: a contact's latest surveys.
CREATE INDEX csat_surveys_contact_idx ON csat_surveys (contact_id, created_at DESC);
-- GET /api/v1/csat: responses newest first (keyset), and by agent, division, channel.
CREATE INDEX csat_surveys_responded_idx ON csat_surveys (responded_at DESC, id DESC)
    WHERE responded_at IS NOT NULL;
CREATE INDEX csat_surveys_agent_idx ON csat_surveys (agent_id, responded_at DESC, id DESC)
    WHERE responded_at IS NOT NULL;
CREATE INDEX csat_surveys_division_idx ON csat_surveys (division_id, responded_at DESC, id DESC)
    WHERE responded_at IS NOT NULL;

-- The CSAT settings: one row (created by the first PUT /api/v1/csat/settings; without it
-- the defaults of omnistream/csat/schemas.py apply: every channel off).
CREATE TABLE csat_settings (
    id            BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    channels      TEXT[] NOT NULL DEFAULT '{}',     -- the channels that send surveys
    interval_days INTEGER NOT NULL DEFAULT 7 CHECK (interval_days BETWEEN 0 AND 365),
    language      TEXT NOT NULL DEFAULT 'auto' CHECK (language IN ('auto', 'en', 'id')),
    include_link  BOOLEAN NOT NULL DEFAULT false,   -- add the public page's link
    public_url    TEXT,                             -- where /csat/{token} is served
    texts         JSONB NOT NULL DEFAULT '{}',      -- {"en": {...}, "id": {...}}
    updated_by    UUID REFERENCES agents (id) ON DELETE SET NULL,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The CSAT consumer reads the outbox from the present on.
INSERT INTO event_consumers (name, position)
SELECT 'csat', COALESCE(max(seq), 0) FROM event_outbox
ON CONFLICT (name) DO NOTHING;
