-- The catalog: tenants, artifacts, the append-only event log and lifecycle runs.
-- Instants are INTEGER milliseconds since the Unix epoch (UTC).

CREATE TABLE tenants (
    name        TEXT PRIMARY KEY NOT NULL,
    plan        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE artifacts (
    id                INTEGER PRIMARY KEY,
    tenant            TEXT NOT NULL REFERENCES tenants(name),
    workflow          TEXT NOT NULL,
    name              TEXT NOT NULL,
    size              INTEGER NOT NULL,
    stored_size       INTEGER NOT NULL,
    codec             TEXT NOT NULL,
    blake3            TEXT NOT NULL,
    sha256            TEXT NOT NULL,
    content_type      TEXT NOT NULL,
    tags              TEXT NOT NULL DEFAULT '{}',
    meta              TEXT NOT NULL DEFAULT '{}',
    created_at        INTEGER NOT NULL,
    last_accessed_at  INTEGER NOT NULL,
    verified_at       INTEGER NOT NULL,
    tier              TEXT NOT NULL,
    state             TEXT NOT NULL,
    class             TEXT,
    expires_at        INTEGER,
    eligible_at       INTEGER,
    pinned_hot_until  INTEGER,
    next_due_at       INTEGER,
    job_token         TEXT,
    lease_until       INTEGER,
    generation        INTEGER NOT NULL DEFAULT 0,
    deleted_at        INTEGER
) STRICT;

-- One live artifact per name; tombstones keep their rows for the audit trail.
CREATE UNIQUE INDEX artifacts_live_name ON artifacts(tenant, workflow, name)
    WHERE state IN ('active', 'eligible');
-- The planner's query: what is due, cheapest first. O(due), not O(catalog).
CREATE INDEX artifacts_next_due ON artifacts(next_due_at) WHERE next_due_at IS NOT NULL;
-- Blob reference counting before deleting a content-addressed blob.
CREATE INDEX artifacts_blob ON artifacts(tenant, blake3, tier) WHERE state IN ('active', 'eligible');

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    tenant       TEXT,
    workflow     TEXT,
    name         TEXT,
    artifact_id  INTEGER,
    kind         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT,
    data         TEXT NOT NULL DEFAULT '{}'
) STRICT;

-- Serves filters by tenant and by artifact key (every version of a name).
CREATE INDEX events_key ON events(tenant, workflow, name, seq);

CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

CREATE TABLE lifecycle_runs (
    id          INTEGER PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    as_of       INTEGER NOT NULL,
    dry_run     INTEGER NOT NULL,
    n_planned   INTEGER NOT NULL,
    summary     TEXT NOT NULL DEFAULT '{}'
) STRICT;
