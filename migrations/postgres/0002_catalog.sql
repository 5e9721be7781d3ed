-- The catalogue: providers (sellers), their locations, variant groups and items, each kept as
-- the validated JSON document of the import format plus the columns search needs. Same shape
-- as sqlite/0002, except full-text search: a tsvector column here, FTS5 there.

CREATE TABLE catalog_providers (
    id          TEXT    PRIMARY KEY,
    doc         TEXT    NOT NULL,
    enabled     BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE catalog_locations (
    provider_id TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    std_code    TEXT    NOT NULL,
    doc         TEXT    NOT NULL,
    enabled     BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (provider_id, id)
);
CREATE INDEX catalog_locations_city ON catalog_locations (std_code);

CREATE TABLE catalog_variant_groups (
    provider_id TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    doc         TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (provider_id, id)
);

CREATE TABLE catalog_items (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_id  TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    location_id  TEXT    NOT NULL,
    domain       TEXT    NOT NULL,
    category_id  TEXT    NOT NULL,
    search_text  TEXT    NOT NULL,
    stock        BIGINT  NOT NULL,
    doc          TEXT    NOT NULL,
    enabled      BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    UNIQUE (provider_id, id)
);
CREATE INDEX catalog_items_by_domain ON catalog_items (domain, provider_id);
CREATE INDEX catalog_items_updated ON catalog_items (updated_at);

-- Unicode-aware, case-insensitive word search over names and descriptions: the 'simple'
-- configuration lower-cases and keeps Devanagari and other Indian scripts' words whole.
ALTER TABLE catalog_items ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED;
CREATE INDEX catalog_items_search ON catalog_items USING GIN (search_vector);

-- What each import changed, for sellers and for incremental catalogues.
CREATE TABLE catalog_changes (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_id    TEXT    NOT NULL,
    provider_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL, -- provider | location | item | variant_group
    entity_id    TEXT    NOT NULL,
    change       TEXT    NOT NULL, -- added | updated | disabled
    changed_at   BIGINT  NOT NULL
);
CREATE INDEX catalog_changes_at ON catalog_changes (changed_at);

-- Buyer apps subscribed to incremental catalogue pushes (search with catalog_inc mode=start).
CREATE TABLE catalog_subscriptions (
    bap_id          TEXT    NOT NULL,
    domain          TEXT    NOT NULL,
    bap_uri         TEXT    NOT NULL,
    transaction_id  TEXT    NOT NULL,
    request_body    BYTEA    NOT NULL,
    since           BIGINT  NOT NULL,
    last_pushed_at  BIGINT  NOT NULL,
    active          BIGINT  NOT NULL,
    PRIMARY KEY (bap_id, domain)
);
