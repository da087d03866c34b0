-- stories.version: a store-wide sequence number stamped on a story whenever something its pages
-- show changes (see migrations/0006_story_version.sql). The web page cache keys a story page on
-- (id, version); ``version > N`` finds the stories changed since N (the cache warmer).
ALTER TABLE stories ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE SEQUENCE story_version_seq;
UPDATE stories SET version = id;
SELECT setval('story_version_seq', GREATEST(1, (SELECT COALESCE(MAX(version), 0) FROM stories)));
CREATE INDEX stories_version ON stories (version);

CREATE FUNCTION stamp_story_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := nextval('story_version_seq');
    RETURN NEW;
END $$;
CREATE TRIGGER story_version_insert BEFORE INSERT ON stories
    FOR EACH ROW EXECUTE FUNCTION stamp_story_version();
CREATE TRIGGER story_version_update BEFORE UPDATE ON stories FOR EACH ROW
    WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.first_seen IS DISTINCT FROM NEW.first_seen
          OR OLD.updated IS DISTINCT FROM NEW.updated OR OLD.latest IS DISTINCT FROM NEW.latest
          OR OLD.size IS DISTINCT FROM NEW.size OR OLD.outlets IS DISTINCT FROM NEW.outlets
          OR OLD.reports IS DISTINCT FROM NEW.reports OR OLD.merged_into IS DISTINCT FROM NEW.merged_into)
    EXECUTE FUNCTION stamp_story_version();

CREATE FUNCTION bump_article_story() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        UPDATE stories SET version = nextval('story_version_seq') WHERE id IN (OLD.story_id, NEW.story_id);
    ELSE
        UPDATE stories SET version = nextval('story_version_seq') WHERE id = NEW.story_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER story_version_article_insert AFTER INSERT ON articles
    FOR EACH ROW WHEN (NEW.story_id IS NOT NULL) EXECUTE FUNCTION bump_article_story();
-- Fingerprint updates (fp_*) change nothing a reader sees: not watched.
CREATE TRIGGER story_version_article_update
    AFTER UPDATE OF story_id, copy_of, role, reuse, score, evidence, title, author, url, published, first_seen,
        outlet, feed_id, summary, text, extraction ON articles
    FOR EACH ROW EXECUTE FUNCTION bump_article_story();

-- A second feed carrying an article adds that feed's tags to the story.
CREATE FUNCTION bump_entry_story() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stories SET version = nextval('story_version_seq')
    WHERE id = (SELECT story_id FROM articles WHERE id = NEW.article_id);
    RETURN NULL;
END $$;
CREATE TRIGGER story_version_entry AFTER INSERT ON entries
    FOR EACH ROW EXECUTE FUNCTION bump_entry_story();

CREATE FUNCTION bump_feed_stories() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stories SET version = nextval('story_version_seq')
    WHERE id IN (SELECT a.story_id FROM entries e JOIN articles a ON a.id = e.article_id WHERE e.feed_id = NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER story_version_feed_tags AFTER UPDATE OF tags ON feeds
    FOR EACH ROW WHEN (OLD.tags IS DISTINCT FROM NEW.tags) EXECUTE FUNCTION bump_feed_stories();
