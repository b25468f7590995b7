-- Tamper evidence: each event carries the blake3 hash of its content chained
-- to the previous event's hash (one chain over the whole log).
ALTER TABLE events ADD COLUMN prev_hash TEXT;
ALTER TABLE events ADD COLUMN hash TEXT;
