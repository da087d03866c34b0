-- Operators' corrections of the clustering: merge two stories, move an article, split a story.
-- The correction itself is applied to articles/stories in the same transaction; this table is
-- the record of it (who moved what where, and when), read by the daemon to bring its in-memory
-- clusterer in line, and by anyone re-clustering the window to apply the corrections again.
CREATE TABLE corrections (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('merge', 'move', 'split')),
    story_id    INTEGER NOT NULL,      -- the story corrected (merge: the one merged away)
    target      INTEGER NOT NULL,      -- the story its articles went to
    article_ids TEXT NOT NULL,         -- JSON list of the articles that moved
    created_at  TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT ''
);
