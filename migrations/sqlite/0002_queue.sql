-- The embedded job queue. Ready jobs are rows with state 'ready' whose
-- available_at has come (a future available_at is a delayed retry); leased
-- jobs carry a lease token and expiry; dead letters keep their last error.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    lane             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    enqueued_at      INTEGER NOT NULL,
    available_at     INTEGER NOT NULL,
    lease_token      TEXT,
    lease_until      INTEGER,
    last_error       TEXT,
    first_failed_at  INTEGER,
    last_failed_at   INTEGER
) STRICT;

CREATE INDEX jobs_ready ON jobs(lane, available_at, id) WHERE state = 'ready';
CREATE INDEX jobs_leased ON jobs(lane, lease_until) WHERE state = 'leased';
CREATE INDEX jobs_dead ON jobs(lane, id) WHERE state = 'dead';
