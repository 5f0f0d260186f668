-- What kind of failure a failed file had: 'bad_file' (the file is unusable),
-- 'retryable' (worth another try) or 'internal' (a bug of the harvester, retried
-- only by --retry-failed or by another tool version). NULL for rows written before
-- kinds were recorded: their `retryable` flag tells bad files from retryable ones.
ALTER TABLE harvest_files ADD COLUMN failure_kind TEXT;
