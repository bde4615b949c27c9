-- Weather reports. `seq` orders reports created within the same microsecond.
CREATE TABLE IF NOT EXISTS reports (
    seq          BIGSERIAL   PRIMARY KEY,
    id           UUID        NOT NULL UNIQUE,
    description  TEXT        NOT NULL,
    city         TEXT        NOT NULL,
    state        TEXT,
    country      TEXT        NOT NULL,
    created_date TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_created_date ON reports (created_date DESC, seq DESC);
