-- widgets; semicolons in comments; are fine
CREATE TABLE widgets (
    id VARCHAR(64) PRIMARY KEY,
    name VARCHAR(255) NOT NULL UNIQUE,
    note VARCHAR(255) NOT NULL DEFAULT 'a;b',
    created_at DATETIME(6) NOT NULL
);
CREATE TABLE parts (
    id BIGINT PRIMARY KEY,
    widget_id VARCHAR(64) NOT NULL,
    FOREIGN KEY (widget_id) REFERENCES widgets(id)
);
