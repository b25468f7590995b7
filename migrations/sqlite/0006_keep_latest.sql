-- Keep-latest-N: counting a workflow's newer live artifacts.
CREATE INDEX artifacts_workflow_age ON artifacts(tenant, workflow, created_at, id) WHERE state IN ('active', 'eligible');
