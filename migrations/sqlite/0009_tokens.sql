-- API tokens of tenants. Only the sha256 of a token is stored (hex); the
-- token itself is shown once, when it is created.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(name),
    sha256      TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  INTEGER
) STRICT;
