-- A lifecycle run ends when its last job finishes, whichever worker carries
-- it out: each finished job is recorded once per run (by its claim token, so
-- a duplicate delivery counts once), and the worker that finishes the last
-- one records the run's outcome and duration (retention_cleanup_runs_total,
-- retention_cleanup_seconds).
ALTER TABLE lifecycle_runs ADD COLUMN n_finished INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lifecycle_runs ADD COLUMN n_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lifecycle_runs ADD COLUMN status TEXT;
ALTER TABLE lifecycle_runs ADD COLUMN finished_at INTEGER;
UPDATE lifecycle_runs SET status = 'success', n_finished = n_planned,
    finished_at = started_at + CAST(duration_ms AS INTEGER)
    WHERE duration_ms IS NOT NULL;

-- Finished jobs of runs still open; a run's rows go when it ends.
CREATE TABLE run_jobs_finished (
    run_id  INTEGER NOT NULL,
    token   TEXT NOT NULL,
    failed  INTEGER NOT NULL,
    PRIMARY KEY (run_id, token)
) STRICT, WITHOUT ROWID;

-- From the instant an artifact's action became due to the action taking
-- effect, one row per promote, compress and purge (and any other planned
-- action): strata_eligibility_lag_seconds.
CREATE TABLE eligibility_lags (
    id       INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL,
    seconds  REAL NOT NULL
) STRICT;

-- The claim of a dead-lettered job: while the artifact still carries that
-- claim, it is shown as dead-lettered; `dlq retry` and `dlq discard` release it.
ALTER TABLE artifacts ADD COLUMN dead_letter_token TEXT;
ALTER TABLE artifacts ADD COLUMN dead_lettered_at INTEGER;
