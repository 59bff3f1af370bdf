-- widgets; semicolons in comments; are fine
CREATE TABLE widgets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    note TEXT NOT NULL DEFAULT 'a;b',
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE parts (
    id INTEGER PRIMARY KEY,
    widget_id TEXT NOT NULL REFERENCES widgets(id)
);
