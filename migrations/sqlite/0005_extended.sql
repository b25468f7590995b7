-- Whether an artifact's expiry was set by an extension (which outranks its
-- class and its plan when either changes).
ALTER TABLE artifacts ADD COLUMN extended INTEGER NOT NULL DEFAULT 0;
