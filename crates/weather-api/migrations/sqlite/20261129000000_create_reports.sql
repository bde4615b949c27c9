-- Weather reports. `seq` orders reports created within the same microsecond.
CREATE TABLE IF NOT EXISTS reports (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    description  TEXT    NOT NULL,
    city         TEXT    NOT NULL,
    state        TEXT,
    country      TEXT    NOT NULL,
    created_date TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_created_date ON reports (created_date DESC, seq DESC);
