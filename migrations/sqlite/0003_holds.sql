-- Holds: an artifact, a whole workflow or a whole tenant is protected from
-- eligibility, purge and erasure while any of its holds is unreleased.
-- artifact_id set: one artifact; workflow set, artifact_id NULL: a workflow;
-- both NULL: the whole tenant (a legal hold).

CREATE TABLE holds (
    id              INTEGER PRIMARY KEY,
    tenant          TEXT NOT NULL REFERENCES tenants(name),
    workflow        TEXT,
    artifact_id     INTEGER REFERENCES artifacts(id),
    reason          TEXT NOT NULL,
    actor           TEXT NOT NULL,
    applied_at      INTEGER NOT NULL,
    released_at     INTEGER,
    release_reason  TEXT,
    released_by     TEXT
) STRICT;

CREATE INDEX holds_active ON holds(tenant, workflow, artifact_id) WHERE released_at IS NULL;
