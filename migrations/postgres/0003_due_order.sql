-- The planner reads due artifacts in (next_due_at, id) order. With the id in
-- the index, PostgreSQL walks the index in that order and stops at the
-- limit, rather than sorting what it read, and keeps doing so with a generic
-- plan for a prepared statement, whose estimate of the due rows is blind.
-- (SQLite's index already ends with the rowid, which is the id.)
CREATE INDEX artifacts_due ON artifacts(next_due_at, id) WHERE next_due_at IS NOT NULL;
DROP INDEX artifacts_next_due;
