-- Webhooks: tenants' endpoints, the notices owed to them, and how far the
-- event log has been read for notices.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
) STRICT;
CREATE INDEX webhooks_tenant ON webhooks(tenant);

-- One row per notice and endpoint; the idempotency key makes a notice
-- recorded twice (a re-read of the log, a second scan of expiring
-- artifacts) one notice. enqueued_at is NULL until its delivery job is on
-- the queue (an outbox: a failed enqueue is retried by the next pass).
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    webhook_id       TEXT NOT NULL,
    tenant           TEXT NOT NULL,
    event            TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    body             TEXT NOT NULL,
    occurred_at      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    enqueued_at      INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    delivered_at     INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    UNIQUE (webhook_id, idempotency_key)
) STRICT;
CREATE INDEX webhook_deliveries_outbox ON webhook_deliveries(id) WHERE enqueued_at IS NULL;

CREATE TABLE webhook_cursor (
    name      TEXT PRIMARY KEY,
    sequence  INTEGER NOT NULL
) STRICT;
