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
    tenant       TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    value        TEXT COLLATE "C" NOT NULL,
    artifact_id  BIGINT NOT NULL,
    PRIMARY KEY (tenant, key, value, artifact_id)
);

CREATE FUNCTION artifacts_tags_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO artifact_tags (tenant, key, value, artifact_id)
        SELECT NEW.tenant, j.key, j.value, NEW.id FROM jsonb_each_text(NEW.tags::jsonb) j
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER artifacts_tags_insert AFTER INSERT ON artifacts
    FOR EACH ROW EXECUTE FUNCTION artifacts_tags_insert();

INSERT INTO artifact_tags (tenant, key, value, artifact_id)
    SELECT a.tenant, j.key, j.value, a.id FROM artifacts a, jsonb_each_text(a.tags::jsonb) j
    ON CONFLICT DO NOTHING;
