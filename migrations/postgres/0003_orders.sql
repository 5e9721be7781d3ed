-- Orders and what leads to them, the seller API's tokens and grievances. Same shape as
-- sqlite/0003. Documents are JSON text; times are Unix milliseconds.

-- What on_select and on_init answered, per transaction, so that init and confirm can be
-- checked against it (RETAIL-DIGEST.md §14).
CREATE TABLE order_drafts (
    transaction_id TEXT    PRIMARY KEY,
    bap_id         TEXT    NOT NULL,
    provider_id    TEXT    NOT NULL,
    stage          TEXT    NOT NULL, -- selected | initialized
    doc            TEXT    NOT NULL,
    updated_at     BIGINT  NOT NULL
);

-- Confirmed orders. `doc` is the whole order record; the columns are what lists filter on.
-- `version` guards against two changes made from the same reading.
CREATE TABLE orders (
    id                TEXT    PRIMARY KEY,
    transaction_id    TEXT    NOT NULL UNIQUE,
    bap_id            TEXT    NOT NULL,
    provider_id       TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    fulfillment_state TEXT    NOT NULL,
    doc               TEXT    NOT NULL,
    version           BIGINT  NOT NULL,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL
);
CREATE INDEX orders_by_provider ON orders (provider_id, created_at);

-- Every change of every order, who made it and what it sent.
CREATE TABLE order_events (
    id        BIGSERIAL PRIMARY KEY,
    order_id  TEXT    NOT NULL,
    at        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    detail    TEXT    NOT NULL
);
CREATE INDEX order_events_by_order ON order_events (order_id, id);

-- Bearer tokens of the seller API; only their BLAKE2b hashes are kept.
CREATE TABLE seller_tokens (
    token_hash  TEXT    PRIMARY KEY,
    provider_id TEXT    NOT NULL,
    label       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

-- Grievances (IGM 1.0.0) raised by buyer apps against our sellers.
CREATE TABLE issues (
    id             TEXT    PRIMARY KEY,
    transaction_id TEXT    NOT NULL,
    order_id       TEXT,
    provider_id    TEXT    NOT NULL,
    bap_id         TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    doc            TEXT    NOT NULL,
    version        BIGINT  NOT NULL,
    respond_by     BIGINT  NOT NULL,
    resolve_by     BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);
CREATE INDEX issues_by_provider ON issues (provider_id, created_at);

-- The outbox sends a transaction's callbacks in order; this finds an earlier pending one.
CREATE INDEX outbox_pending_by_transaction ON outbox (transaction_id, id) WHERE state = 'pending';

-- Documents and bodies are stored uncompressed: they are written once or twice and read a
-- few times, and compressing them cost PostgreSQL more CPU than the disk it saved.
ALTER TABLE orders ALTER COLUMN doc SET STORAGE EXTERNAL;
ALTER TABLE order_drafts ALTER COLUMN doc SET STORAGE EXTERNAL;
ALTER TABLE inbound ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE outbox ALTER COLUMN body SET STORAGE EXTERNAL;
