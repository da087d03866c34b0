-- stories.version: a store-wide sequence number stamped on a story whenever something its pages
-- show changes (a source joins or leaves, a member's role, reuse or text changes, a correction,
-- a merge, a feed's tags). The web page cache keys a story page on (id, version), so the daemon's
-- other writes (feed polls, other stories) leave it cached; MAX(version) is what the listings
-- show; ``version > N`` finds the stories changed since N (the cache warmer). Triggers keep it,
-- so every writer (daemon, CLI corrections, web operators, a copy) stamps it the same way.
ALTER TABLE stories ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
UPDATE stories SET version = id;
CREATE INDEX stories_version ON stories (version);

CREATE TRIGGER story_version_insert AFTER INSERT ON stories BEGIN
    UPDATE stories SET version = (SELECT MAX(version) FROM stories) + 1 WHERE id = new.id;
END;

-- Recursive triggers are off: this UPDATE of ``version`` does not fire the trigger again (and
-- ``version`` is not among the columns it watches anyway).
CREATE TRIGGER story_version_update
AFTER UPDATE OF title, first_seen, updated, latest, size, outlets, reports, merged_into ON stories
WHEN old.title IS NOT new.title OR old.first_seen IS NOT new.first_seen OR old.updated IS NOT new.updated
  OR old.latest IS NOT new.latest OR old.size IS NOT new.size OR old.outlets IS NOT new.outlets
  OR old.reports IS NOT new.reports OR old.merged_into IS NOT new.merged_into
BEGIN
    UPDATE stories SET version = (SELECT MAX(version) FROM stories) + 1 WHERE id = new.id;
END;

CREATE TRIGGER story_version_article_insert AFTER INSERT ON articles WHEN new.story_id IS NOT NULL BEGIN
    UPDATE stories SET version = (SELECT MAX(version) FROM stories) + 1 WHERE id = new.story_id;
END;

-- Fingerprint updates (fp_*) change nothing a reader sees: not watched.
CREATE TRIGGER story_version_article_update
AFTER UPDATE OF story_id, copy_of, role, reuse, score, evidence, title, author, url, published, first_seen,
    outlet, feed_id, summary, text, extraction ON articles
BEGIN
    UPDATE stories SET version = (SELECT MAX(version) FROM stories) + 1 WHERE id IN (old.story_id, new.story_id);
END;

-- A second feed carrying an article adds that feed's tags to the story.
CREATE TRIGGER story_version_entry AFTER INSERT ON entries BEGIN
    UPDATE stories SET version = (SELECT MAX(version) FROM stories) + 1
    WHERE id = (SELECT story_id FROM articles WHERE id = new.article_id);
END;

CREATE TRIGGER story_version_feed_tags AFTER UPDATE OF tags ON feeds WHEN old.tags IS NOT new.tags BEGIN
    UPDATE stories SET version = (SELECT MAX(version) FROM stories) + 1
    WHERE id IN (SELECT a.story_id FROM entries e JOIN articles a ON a.id = e.article_id WHERE e.feed_id = new.id);
END;
