-- Baselines: named snapshots of a set of artifacts (each member's key,
-- digest and size when the baseline was marked), to compare later sets with.
CREATE TABLE baselines (
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    selection   TEXT NOT NULL,
    artifacts   INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
) STRICT;

CREATE TABLE baseline_members (
    tenant       TEXT NOT NULL,
    baseline     TEXT NOT NULL,
    workflow     TEXT NOT NULL,
    name         TEXT NOT NULL,
    blake3       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    PRIMARY KEY (tenant, baseline, workflow, name)
) STRICT;
