-- The planner's pass over the artifact table.
--
-- It reads due artifacts in (next_due_at, id) order. With the id in the
-- index, PostgreSQL walks the index in that order and stops at the limit,
-- rather than sorting what it read, and keeps doing so with a generic plan
-- for a prepared statement, whose estimate of the due rows is blind.
-- (SQLite's index already ends with the rowid, which is the id.)
CREATE INDEX artifacts_due ON artifacts(next_due_at, id) WHERE next_due_at IS NOT NULL;
DROP INDEX artifacts_next_due;

-- It then stamps each claimed row (job_token, lease_until: columns no index
-- covers). Pages filled to 90% leave room for the new row version on the
-- same page, so such an update is heap-only and touches no index (on a
-- seeded million-row table, a 1,000-row stamp went from about 40 ms to about
-- 2 ms). Pages written before this migration keep their fill until the
-- table is rewritten.
ALTER TABLE artifacts SET (fillfactor = 90);
