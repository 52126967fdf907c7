-- Agent availability (issue 17, docs/inbox.md#availability): online / away / offline.
--
-- presence is what everyone sees and what automatic assignment reads (only 'online' agents
-- receive conversations). presence_choice is what the agent last set themselves: an agent
-- taken offline because their last live connection closed goes back to their choice when
-- they connect again, and one set away by idleness goes back to it on their next action.
-- Text with a CHECK, as every enum here (kit/enums.py Presence mirrors it).
ALTER TABLE agents
    ADD COLUMN presence TEXT NOT NULL DEFAULT 'offline'
        CHECK (presence IN ('online', 'away', 'offline')),
    ADD COLUMN presence_choice TEXT NOT NULL DEFAULT 'online'
        CHECK (presence_choice IN ('online', 'away', 'offline')),
    ADD COLUMN presence_changed_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- Automatic assignment looks up the online members of a division.
CREATE INDEX agents_online_idx ON agents (id) WHERE presence = 'online' AND is_active;

-- The live connections (WebSockets) that keep an agent from going offline, one row each,
-- written by the API process holding the socket: seen_at is refreshed by that process's
-- heartbeat while the socket is open and set once more when it closes. The worker's
-- presence tick takes offline an agent none of whose rows was seen within
-- OMNISTREAM_PRESENCE_OFFLINE_SECONDS, so several API processes need nothing in common but
-- this table, and a killed process's rows simply stop being refreshed (no clean-up needed
-- before they count as gone). Old rows are deleted by the same tick.
CREATE TABLE presence_connections (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id     UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    process      TEXT NOT NULL,  -- the API process (host:pid:start) holding the socket
    connected_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at    TIMESTAMPTZ
);
CREATE INDEX presence_connections_agent_idx ON presence_connections (agent_id, seen_at);
CREATE INDEX presence_connections_seen_idx ON presence_connections (seen_at);
-- The tick's probe: agents shown online or away (few, against every agent ever created).
CREATE INDEX agents_present_idx ON agents (presence_changed_at) WHERE presence <> 'offline';
