-- The catalogue: providers (sellers), their locations, variant groups and items, each kept as
-- the validated JSON document of the import format plus the columns search needs. Same shape
-- as postgres/0002, except full-text search: FTS5 here, a tsvector column there.

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
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
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

-- Unicode-aware, case-insensitive word search over names and descriptions; unicode61 keeps
-- Devanagari and other Indian scripts' words whole (their vowel signs are not separators).
CREATE VIRTUAL TABLE catalog_items_fts USING fts5(
    search_text, content = 'catalog_items', content_rowid = 'seq', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER catalog_items_fts_insert AFTER INSERT ON catalog_items BEGIN
    INSERT INTO catalog_items_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;
CREATE TRIGGER catalog_items_fts_delete AFTER DELETE ON catalog_items BEGIN
    INSERT INTO catalog_items_fts (catalog_items_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
END;
CREATE TRIGGER catalog_items_fts_update AFTER UPDATE OF search_text ON catalog_items BEGIN
    INSERT INTO catalog_items_fts (catalog_items_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
    INSERT INTO catalog_items_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;

-- What each import changed, for sellers and for incremental catalogues.
CREATE TABLE catalog_changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
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
    request_body    BLOB    NOT NULL,
    since           BIGINT  NOT NULL,
    last_pushed_at  BIGINT  NOT NULL,
    active          BIGINT  NOT NULL,
    PRIMARY KEY (bap_id, domain)
);
