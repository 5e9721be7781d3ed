-- The journal of requests received (persisted before they are acknowledged) and the outbox of
-- callbacks to send. Times are Unix milliseconds. Same shape as postgres/0001.

CREATE TABLE inbound (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    bap_id                TEXT    NOT NULL,
    action                TEXT    NOT NULL,
    message_id            TEXT    NOT NULL,
    transaction_id        TEXT,
    domain                TEXT,
    city                  TEXT,
    bap_uri               TEXT,
    body                  BLOB    NOT NULL,
    authorization_header         TEXT,
    gateway_authorization TEXT,
    received_at           INTEGER NOT NULL,
    request_timestamp     INTEGER,
    ttl_ms                INTEGER,
    response_status       INTEGER NOT NULL,
    response_body         TEXT    NOT NULL,
    -- pending: acknowledged, not yet processed; processed; unhandled: acknowledged and
    -- recorded, no business logic for this action yet; refused: answered with a NACK.
    state                 TEXT    NOT NULL,
    processed_at          INTEGER,
    process_note          TEXT
);
CREATE UNIQUE INDEX inbound_replay ON inbound (bap_id, action, message_id);
-- Only pending rows are indexed: requests enter and leave it once.
CREATE INDEX inbound_pending ON inbound (id) WHERE state = 'pending';
CREATE INDEX inbound_transaction ON inbound (transaction_id);

CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    action              TEXT    NOT NULL,
    kind                TEXT    NOT NULL, -- solicited | unsolicited
    inbound_id          INTEGER REFERENCES inbound (id),
    bap_id              TEXT    NOT NULL,
    url                 TEXT    NOT NULL,
    transaction_id      TEXT    NOT NULL,
    message_id          TEXT    NOT NULL,
    domain              TEXT,
    body                BLOB    NOT NULL,
    created_at          INTEGER NOT NULL,
    deadline_at         INTEGER NOT NULL,
    next_attempt_at     INTEGER NOT NULL,
    -- pending | delivered | nacked (the buyer app refused it) | failed (rejected without a
    -- NACK, not retried) | dead (retries ran out)
    state               TEXT    NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_until         INTEGER,
    last_http_status    INTEGER,
    last_error          TEXT,
    nack_code           TEXT,
    nack_message        TEXT,
    finished_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_transaction ON outbox (transaction_id);

CREATE TABLE outbox_attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id       INTEGER NOT NULL REFERENCES outbox (id),
    attempt         INTEGER NOT NULL,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER NOT NULL,
    authorization_header   TEXT    NOT NULL,
    http_status     INTEGER,
    response_body   TEXT,
    error           TEXT,
    outcome         TEXT    NOT NULL
);
CREATE INDEX outbox_attempts_by_message ON outbox_attempts (outbox_id);

-- Small named values the node and its commands share, e.g. the request_id of the latest
-- /subscribe that the site-verification page must sign.
CREATE TABLE node_values (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
