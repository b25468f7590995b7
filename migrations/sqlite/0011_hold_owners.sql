-- Who placed each hold, which decides who may release it, and the date a
-- compliance hold locks it until.
--
-- owner: 'operator' (the CLI or the admin token) or 'tenant' (a tenant's
-- token; owner_tenant names that tenant). A tenant's token can release only
-- holds placed with a token of the same tenant. Holds placed before owners
-- were recorded become operator holds: the safe default, since then no
-- tenant token can release them.
--
-- locked_until: for a compliance hold, the instant (ms since the epoch)
-- before which nobody, not even an operator, can release it; NULL for a
-- legal hold.

ALTER TABLE holds ADD COLUMN owner TEXT NOT NULL DEFAULT 'operator' CHECK (owner IN ('operator', 'tenant'));
ALTER TABLE holds ADD COLUMN owner_tenant TEXT REFERENCES tenants(name)
    CHECK ((owner = 'tenant') = (owner_tenant IS NOT NULL));
ALTER TABLE holds ADD COLUMN locked_until INTEGER;
