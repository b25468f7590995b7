-- Baselines: named snapshots of a set of artifacts (each member's key,
-- digest and size when the baseline was marked), to compare later sets with.
CREATE TABLE baselines (
    tenant      TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    selection   TEXT NOT NULL,
    artifacts   BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE baseline_members (
    tenant       TEXT COLLATE "C" NOT NULL,
    baseline     TEXT COLLATE "C" NOT NULL,
    workflow     TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    blake3       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    PRIMARY KEY (tenant, baseline, workflow, name)
);
