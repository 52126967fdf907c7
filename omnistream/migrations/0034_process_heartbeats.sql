-- Process heartbeats (issue 18, docs/system.md): every `omnistream serve` and `omnistream
-- worker` process upserts its row every OMNISTREAM_HEARTBEAT_SECONDS, and deletes it when it
-- stops cleanly. A row whose last beat is older than three of its own beats belongs to a
-- process that is gone (killed, its host lost); rows a day old are deleted by the beats of
-- the processes still running.
--
-- A new table only: processes of the previous release never read or write it, so they run
-- unchanged beside a migrated database (docs/operations.md, one release of compatibility).
CREATE TABLE process_heartbeats (
    id UUID PRIMARY KEY,  -- drawn by the process when it starts: one row per process instance
    kind TEXT NOT NULL CHECK (kind IN ('api', 'worker', 'api+worker')),
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    version TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    last_beat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    beat_seconds REAL NOT NULL CHECK (beat_seconds > 0),
    -- Per worker loop: {"state": "working"|"waiting", "since", "last_pause_at", "passes",
    -- "crashes", "last_crash_at", "lag_seconds"} as of the last beat (system/heartbeat.py).
    loops JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX process_heartbeats_last_beat_idx ON process_heartbeats (last_beat_at);
