-- Each import used to leave its item words in FTS5 segments of their own, and a text search
-- reads every segment once per word. Imports now merge the index after they commit
-- (`Store::merge_text_index`); this merges what earlier imports left, once.
INSERT INTO catalog_items_fts (catalog_items_fts) VALUES ('optimize');
