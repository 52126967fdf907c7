-- Response-time percentiles without sorting a year of cycles per request (issue 15).
--
-- The durations of report_cycles, packed per (kind, UTC day, division) in columns of fixed
-- width, so a report reads a few thousand rows and computes medians and p90 in memory
-- (reports/durations.py) instead of PostgreSQL sorting every value of the range. The
-- reports consumer rebuilds a block from report_cycles whenever one of its values changes
-- (reports/duration_queries.py), in the transaction that changed it.
--
-- Within a block the values are ordered by agent (NULL first), then time; `agents` lists
-- the block's agents in that order and `starts` the index of each one's first value, so
-- one agent's values are a slice (substring) of every column.
CREATE TABLE report_durations (
    kind        SMALLINT NOT NULL CHECK (kind IN (1, 2)),  -- 1 first response, 2 resolution
    day         TIMESTAMPTZ NOT NULL,  -- midnight UTC of the values' times
    division_id UUID,                  -- the conversation's division now (NULL: none)
    n           INTEGER NOT NULL CHECK (n > 0),
    agents      UUID[] NOT NULL,       -- kind 1: the responder, kind 2: the assignee now
    starts      INTEGER[] NOT NULL,
    agent_runs  BYTEA NOT NULL,        -- per agent: its uuid (nil for none), then int4 count
    at          BYTEA NOT NULL,        -- int4 per value: whole seconds since `day`
    wall        BYTEA NOT NULL,        -- float8: seconds from the cycle's start
    business    BYTEA,                 -- float8 business seconds (NaN: none); NULL if none has
    channel     BYTEA NOT NULL,        -- int2: reports/durations.py CHANNELS index
    account     BYTEA NOT NULL         -- uuid (nil: none)
);
CREATE UNIQUE INDEX report_durations_key ON report_durations (kind, day, division_id)
    NULLS NOT DISTINCT;
-- Read whole and rarely compressible: stored out of line without compression.
ALTER TABLE report_durations
    ALTER agent_runs SET STORAGE EXTERNAL, ALTER at SET STORAGE EXTERNAL,
    ALTER wall SET STORAGE EXTERNAL, ALTER business SET STORAGE EXTERNAL,
    ALTER channel SET STORAGE EXTERNAL, ALTER account SET STORAGE EXTERNAL;

-- Blocks to build though no cycle of theirs changed: every one the facts already hold when
-- this migration runs (the worker drains it; `omnistream reports rebuild` builds them all).
CREATE TABLE report_durations_dirty (
    kind        SMALLINT NOT NULL,
    day         TIMESTAMPTZ NOT NULL,
    division_id UUID
);
CREATE UNIQUE INDEX report_durations_dirty_key ON report_durations_dirty (kind, day, division_id)
    NULLS NOT DISTINCT;
INSERT INTO report_durations_dirty (kind, day, division_id)
SELECT DISTINCT 1, date_bin('1 day', first_response_at, timestamptz '2000-01-01 00:00:00+00'),
       division_id
  FROM report_cycles WHERE first_response_at IS NOT NULL
UNION
SELECT DISTINCT 2, date_bin('1 day', resolved_at, timestamptz '2000-01-01 00:00:00+00'),
       division_id
  FROM report_cycles WHERE resolved_at IS NOT NULL;
