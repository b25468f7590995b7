-- Leadership leases: one holder per name at a time (the scheduler), with a
-- fencing counter that grows at every change of holder.
CREATE TABLE leaders (
    name        TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    fence       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
