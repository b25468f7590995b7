-- Artifact queries: sorted by creation or size within a tenant, and by tag.
--
-- A page sorted by creation or size walks one of these indexes from the
-- cursor and stops at the page's end, whatever the tenant's size.
CREATE INDEX artifacts_tenant_created ON artifacts(tenant, created_at, id) WHERE state IN ('active', 'eligible');
CREATE INDEX artifacts_tenant_size ON artifacts(tenant, size, id) WHERE state IN ('active', 'eligible');

-- One row per tag of every artifact row (tags never change after an
-- upload), so a tag filter finds its artifacts from the tag, not by reading
-- every artifact's tags. A trigger keeps it, whatever inserts the row.
CREATE TABLE artifact_tags (
    tenant       TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    artifact_id  INTEGER NOT NULL,
    PRIMARY KEY (tenant, key, value, artifact_id)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER artifacts_tags_insert AFTER INSERT ON artifacts
BEGIN
    INSERT OR IGNORE INTO artifact_tags (tenant, key, value, artifact_id)
        SELECT NEW.tenant, j.key, CAST(j.value AS TEXT), NEW.id FROM json_each(NEW.tags) j;
END;

INSERT OR IGNORE INTO artifact_tags (tenant, key, value, artifact_id)
    SELECT a.tenant, j.key, CAST(j.value AS TEXT), a.id FROM artifacts a, json_each(a.tags) j;
