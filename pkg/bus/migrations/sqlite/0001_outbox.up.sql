CREATE TABLE bus_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP NULL,
    lease_owner TEXT NULL,
    lease_until TIMESTAMP NULL,
    last_error TEXT NULL
);
CREATE INDEX bus_outbox_pending ON bus_outbox (delivered_at, next_attempt_at);
CREATE INDEX bus_outbox_subject ON bus_outbox (subject, seq);
