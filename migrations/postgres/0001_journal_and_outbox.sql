-- The journal of requests received (persisted before they are acknowledged) and the outbox of
-- callbacks to send. Times are Unix milliseconds. same shape as sqlite/0001.

CREATE TABLE inbound (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bap_id                TEXT    NOT NULL,
    action                TEXT    NOT NULL,
    message_id            TEXT    NOT NULL,
    transaction_id        TEXT,
    domain                TEXT,
    city                  TEXT,
    bap_uri               TEXT,
    body                  BYTEA    NOT NULL,
    authorization_header         TEXT,
    gateway_authorization TEXT,
    received_at           BIGINT NOT NULL,
    request_timestamp     BIGINT,
    ttl_ms                BIGINT,
    response_status       BIGINT NOT NULL,
    response_body         TEXT    NOT NULL,
    -- pending: acknowledged, not yet processed; processed; unhandled: acknowledged and
    -- recorded, no business logic for this action yet; refused: answered with a NACK.
    state                 TEXT    NOT NULL,
    processed_at          BIGINT,
    process_note          TEXT
);
CREATE UNIQUE INDEX inbound_replay ON inbound (bap_id, action, message_id);
-- Only pending rows are indexed: requests enter and leave it once.
CREATE INDEX inbound_pending ON inbound (id) WHERE state = 'pending';
CREATE INDEX inbound_transaction ON inbound (transaction_id);

CREATE TABLE outbox (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action              TEXT    NOT NULL,
    kind                TEXT    NOT NULL, -- solicited | unsolicited
    inbound_id          BIGINT REFERENCES inbound (id),
    bap_id              TEXT    NOT NULL,
    url                 TEXT    NOT NULL,
    transaction_id      TEXT    NOT NULL,
    message_id          TEXT    NOT NULL,
    domain              TEXT,
    body                BYTEA    NOT NULL,
    created_at          BIGINT NOT NULL,
    deadline_at         BIGINT NOT NULL,
    next_attempt_at     BIGINT NOT NULL,
    -- pending | delivered | nacked (the buyer app refused it) | failed (rejected without a
    -- NACK, not retried) | dead (retries ran out)
    state               TEXT    NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_until         BIGINT,
    last_http_status    BIGINT,
    last_error          TEXT,
    nack_code           TEXT,
    nack_message        TEXT,
    finished_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_transaction ON outbox (transaction_id);

CREATE TABLE outbox_attempts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id       BIGINT NOT NULL REFERENCES outbox (id),
    attempt         BIGINT NOT NULL,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT NOT NULL,
    authorization_header   TEXT    NOT NULL,
    http_status     BIGINT,
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
    updated_at  BIGINT NOT NULL
);
