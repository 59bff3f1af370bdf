CREATE TABLE bus_outbox (
    seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id VARCHAR(64) NOT NULL UNIQUE,
    source VARCHAR(255) NOT NULL,
    type VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL DEFAULT '',
    payload LONGTEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    delivered_at DATETIME(6) NULL,
    lease_owner VARCHAR(64) NULL,
    lease_until DATETIME(6) NULL,
    last_error TEXT NULL,
    INDEX bus_outbox_pending (delivered_at, next_attempt_at),
    INDEX bus_outbox_subject (subject, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
