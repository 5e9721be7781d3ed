-- A counter every catalogue import raises in its own transaction, so that a node can keep the
-- providers' headers and each city's stores in memory and know with one read whether any
-- process has imported since. The row lock orders concurrent imports, so the value read only
-- grows in commit order.
CREATE TABLE catalog_generation (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   BIGINT  NOT NULL
);
INSERT INTO catalog_generation (id, n) VALUES (1, 0);
