-- The daemon's state on each feed: claims (so a restart or a second worker never polls a feed
-- twice), the last unconditional fetch, a discovered feed URL, and the observed publishing rate.
ALTER TABLE feeds ADD COLUMN claimed_until TEXT;      -- a claim's lease; NULL when unclaimed
ALTER TABLE feeds ADD COLUMN claimed_by TEXT;         -- who holds it (pid@host), for operators
ALTER TABLE feeds ADD COLUMN unconditional_at TEXT;   -- last fetch sent without validators
ALTER TABLE feeds ADD COLUMN discovered_url TEXT;     -- the feed found when `url` was a page
ALTER TABLE feeds ADD COLUMN pub_rate REAL;           -- entries per day seen in the feed
CREATE INDEX feeds_due ON feeds (next_check_at);
