-- The event log becomes one hash chain per tenant, plus one chain for
-- events about no tenant (ADR 0017). An event's position in its chain is
-- hashed with it; events from before have no position and stay one chain by
-- sequence number, which the chain of events about no tenant continues.
ALTER TABLE events ADD COLUMN chain_pos INTEGER;
-- A chain's head is its largest position; no two events share one.
CREATE UNIQUE INDEX events_chain ON events(COALESCE(tenant, ''), chain_pos) WHERE chain_pos IS NOT NULL;
-- The last event from before per-tenant chains, found at once.
CREATE INDEX events_unchained ON events(seq) WHERE chain_pos IS NULL;
