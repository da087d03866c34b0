-- The first schema: feeds, articles, entries (feed memberships), stories.
CREATE TABLE feeds (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    url             TEXT NOT NULL,
    outlet          TEXT NOT NULL,
    tags            TEXT NOT NULL DEFAULT '[]',
    interval        INTEGER,
    enabled         INTEGER NOT NULL DEFAULT 1,
    in_config       INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    etag            TEXT,
    last_modified   TEXT,
    body_hash       TEXT,
    last_fetch_at   TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    error_count     INTEGER NOT NULL DEFAULT 0,
    next_check_at   TEXT,
    title           TEXT
);

CREATE TABLE stories (
    id          INTEGER PRIMARY KEY,   -- the id of the article that founded it
    title       TEXT NOT NULL DEFAULT '',
    first_seen  TEXT NOT NULL,
    updated     TEXT NOT NULL,         -- last time a source joined
    latest      TEXT NOT NULL,         -- newest publication time of a member
    size        INTEGER NOT NULL DEFAULT 0,
    outlets     INTEGER NOT NULL DEFAULT 0,
    reports     INTEGER NOT NULL DEFAULT 0,
    merged_into INTEGER REFERENCES stories(id)
);
CREATE INDEX stories_front ON stories (merged_into, latest);

CREATE TABLE articles (
    id              INTEGER PRIMARY KEY,
    url             TEXT NOT NULL UNIQUE,   -- canonical URL, tracking parameters removed
    title           TEXT NOT NULL DEFAULT '',
    author          TEXT NOT NULL DEFAULT '',
    published       TEXT,
    first_seen      TEXT NOT NULL,
    outlet          TEXT NOT NULL DEFAULT '',
    feed_id         INTEGER REFERENCES feeds(id),
    summary         TEXT NOT NULL DEFAULT '',
    text            TEXT NOT NULL DEFAULT '',
    language        TEXT NOT NULL DEFAULT '',
    site_name       TEXT NOT NULL DEFAULT '',
    extraction      TEXT NOT NULL DEFAULT 'page',
    extraction_note TEXT NOT NULL DEFAULT '',
    fp_scheme       TEXT NOT NULL,
    fp_signature    BLOB NOT NULL,
    fp_payload      TEXT NOT NULL,
    story_id        INTEGER REFERENCES stories(id),
    copy_of         INTEGER REFERENCES articles(id),
    role            TEXT NOT NULL DEFAULT 'report',
    reuse           REAL NOT NULL DEFAULT 0,
    score           REAL NOT NULL DEFAULT 0,
    evidence        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX articles_story ON articles (story_id);
CREATE INDEX articles_feed ON articles (feed_id);

-- One row per (feed, GUID): the same article in two feeds of a paper is one article, two entries.
CREATE TABLE entries (
    feed_id    INTEGER NOT NULL REFERENCES feeds(id),
    guid       TEXT NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id),
    link       TEXT NOT NULL DEFAULT '',
    seen_at    TEXT NOT NULL,
    PRIMARY KEY (feed_id, guid)
);
CREATE INDEX entries_article ON entries (article_id);
