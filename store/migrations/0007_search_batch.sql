-- Search indexing once per write transaction instead of once per article, and one story-version
-- stamp fewer per article (issue 7).
--
-- With the index kept by an AFTER INSERT trigger, every INSERT INTO articles wrote the article
-- into FTS5 in a statement of its own, and FTS5 flushes its pending terms to a new index segment
-- at the end of every such statement: one segment per article, merged again and again (≈ 40 % of
-- the index's write cost). Now the insert trigger only notes the new article in
-- ``articles_fts_pending``, and the store indexes everything noted in one statement just before
-- it commits (store/sqlite.py ``_index_pending``), in the same transaction: a committed article
-- is always searchable, a rolled-back one (or savepoint) takes its note with it. Rows another
-- program inserts without the store are indexed at the store's next write or start.
CREATE TABLE articles_fts_pending (id INTEGER PRIMARY KEY);

DROP TRIGGER articles_fts_insert;
CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT OR IGNORE INTO articles_fts_pending (id) VALUES (new.id);
END;

-- A pending article is not in the index yet: it must not be "deleted" from it (that would corrupt
-- an external-content index); dropping its note is enough.
DROP TRIGGER articles_fts_delete;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body, outlet)
    SELECT 'delete', old.id, old.title, CASE WHEN old.text <> '' THEN old.text ELSE old.summary END, old.outlet
    WHERE NOT EXISTS (SELECT 1 FROM articles_fts_pending WHERE id = old.id);
    DELETE FROM articles_fts_pending WHERE id = old.id;
END;

-- Likewise an update of a pending article: it is indexed with its values at commit.
DROP TRIGGER articles_fts_update;
CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, text, summary, outlet ON articles
WHEN NOT EXISTS (SELECT 1 FROM articles_fts_pending WHERE id = old.id) BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body, outlet)
    VALUES ('delete', old.id, old.title, CASE WHEN old.text <> '' THEN old.text ELSE old.summary END, old.outlet);
    INSERT INTO articles_fts (rowid, title, body, outlet)
    VALUES (new.id, new.title, CASE WHEN new.text <> '' THEN new.text ELSE new.summary END, new.outlet);
END;

-- The store stamps a story's version in the statement that writes the story (a new story, a
-- source joining one), so these two triggers no longer write the row a second time for it
-- (issue 7). They stamp whenever that statement did not: unless the row now holds a new version
-- (at least 1) above every other story's, which is all a stamp guarantees (0006). Any other
-- writer, which leaves ``version`` alone, is stamped as before.
DROP TRIGGER story_version_insert;
CREATE TRIGGER story_version_insert AFTER INSERT ON stories
WHEN new.version < 1 OR EXISTS (SELECT 1 FROM stories WHERE version >= new.version AND id <> new.id) BEGIN
    UPDATE stories SET version = (SELECT MAX(version) FROM stories) + 1 WHERE id = new.id;
END;

DROP TRIGGER story_version_update;
CREATE TRIGGER story_version_update
AFTER UPDATE OF title, first_seen, updated, latest, size, outlets, reports, merged_into ON stories
WHEN (old.title IS NOT new.title OR old.first_seen IS NOT new.first_seen OR old.updated IS NOT new.updated
  OR old.latest IS NOT new.latest OR old.size IS NOT new.size OR old.outlets IS NOT new.outlets
  OR old.reports IS NOT new.reports OR old.merged_into IS NOT new.merged_into)
  AND (new.version <= old.version OR new.version < 1
       OR EXISTS (SELECT 1 FROM stories WHERE version >= new.version AND id <> new.id))
BEGIN
    UPDATE stories SET version = (SELECT MAX(version) FROM stories) + 1 WHERE id = new.id;
END;
