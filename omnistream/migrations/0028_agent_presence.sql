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
