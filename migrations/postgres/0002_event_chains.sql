-- The event log becomes one hash chain per tenant, plus one chain for
-- events about no tenant (ADR 0017). An event's position in its chain is
-- hashed with it; events from before have no position and stay one chain by
-- sequence number, which the chain of events about no tenant continues.
ALTER TABLE events ADD COLUMN chain_pos BIGINT;
-- A chain's head is its largest position; no two events share one.
CREATE UNIQUE INDEX events_chain ON events ((COALESCE(tenant, '')), chain_pos) WHERE chain_pos IS NOT NULL;
-- The last event from before per-tenant chains, found at once.
CREATE INDEX events_unchained ON events(seq) WHERE chain_pos IS NULL;
-- Sequence numbers now come from the column's sequence (writers on
-- different chains append at once); events so far were numbered by the
-- writer, so the sequence starts after them.
SELECT setval(pg_get_serial_sequence('events', 'seq'), COALESCE((SELECT MAX(seq) FROM events), 0) + 1, false);
