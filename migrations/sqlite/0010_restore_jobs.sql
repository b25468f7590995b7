-- Restore jobs requested over the API, so their status can be asked for and
-- a repeated request can be answered with the job already under way. The id
-- is the claim token the job stamped on its artifact.
CREATE TABLE restore_jobs (
    id            TEXT PRIMARY KEY NOT NULL,
    tenant        TEXT NOT NULL REFERENCES tenants(name),
    workflow      TEXT NOT NULL,
    name          TEXT NOT NULL,
    artifact_id   INTEGER NOT NULL REFERENCES artifacts(id),
    requested_at  INTEGER NOT NULL,
    requested_by  TEXT NOT NULL,
    days          INTEGER
) STRICT;

CREATE INDEX restore_jobs_artifact ON restore_jobs(artifact_id);
