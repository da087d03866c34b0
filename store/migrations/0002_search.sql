-- Full-text search over articles (title, text, outlet), kept in sync by triggers.
-- External content: the text lives once, in articles; the index reads it back through the view
-- (body is the extracted text, or the feed summary when extraction fell back to it), so
-- snippet() works for both.
CREATE VIEW articles_search AS
SELECT id, title, CASE WHEN text <> '' THEN text ELSE summary END AS body, outlet FROM articles;

CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, body, outlet,
    content = 'articles_search', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, body, outlet)
    VALUES (new.id, new.title, CASE WHEN new.text <> '' THEN new.text ELSE new.summary END, new.outlet);
END;

CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body, outlet)
    VALUES ('delete', old.id, old.title, CASE WHEN old.text <> '' THEN old.text ELSE old.summary END, old.outlet);
END;

-- Only a change of an indexed column touches the index (story moves and role updates do not).
CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, text, summary, outlet ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body, outlet)
    VALUES ('delete', old.id, old.title, CASE WHEN old.text <> '' THEN old.text ELSE old.summary END, old.outlet);
    INSERT INTO articles_fts (rowid, title, body, outlet)
    VALUES (new.id, new.title, CASE WHEN new.text <> '' THEN new.text ELSE new.summary END, new.outlet);
END;

-- Backfill the articles stored before this migration.
INSERT INTO articles_fts (rowid, title, body, outlet) SELECT id, title, body, outlet FROM articles_search;
