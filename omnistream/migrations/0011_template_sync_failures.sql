-- A failed periodic template sync is retried sooner than the sync interval, backing off
-- (templates/worker.py): 1, 2, 4, ... minutes after consecutive failures, at most the
-- interval. Reset by a successful sync.
ALTER TABLE wa_template_syncs
    ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0
        CHECK (consecutive_failures >= 0);
