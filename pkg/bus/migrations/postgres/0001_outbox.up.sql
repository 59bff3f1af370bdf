CREATE TABLE bus_outbox (
    seq BIGSERIAL PRIMARY KEY,
    id VARCHAR(64) NOT NULL UNIQUE,
    source VARCHAR(255) NOT NULL,
    type VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ NULL,
    lease_owner VARCHAR(64) NULL,
    lease_until TIMESTAMPTZ NULL,
    last_error TEXT NULL
);
CREATE INDEX bus_outbox_pending ON bus_outbox (delivered_at, next_attempt_at);
CREATE INDEX bus_outbox_subject ON bus_outbox (subject, seq);
