-- The lifecycle policy last applied to the stored artifacts: its
-- fingerprint (blake3 of the policy's canonical JSON) and the policy itself,
-- so that a change can be detected by whichever process plans first and
-- recorded with its difference. One row at most.

CREATE TABLE policy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    policy TEXT NOT NULL,
    applied_at INTEGER NOT NULL
);
