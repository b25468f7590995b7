-- How long a lifecycle run took to plan and carry out, when one process did
-- both (`lifecycle run --wait`, `retention sweep`): retention_cleanup_seconds.
ALTER TABLE lifecycle_runs ADD COLUMN duration_ms REAL;
