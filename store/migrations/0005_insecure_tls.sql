-- Per-feed opt-in to fetch the feed document without verifying its TLS certificate (issue 6,
-- case 15): for an outlet whose certificate is self-signed or expired. Off unless feeds.yaml says
-- insecure_tls: true.
ALTER TABLE feeds ADD COLUMN insecure_tls INTEGER NOT NULL DEFAULT 0;
