-- Labels follow the source. A path's labels are its `key=value` folders and the
-- `--label` labels given for it; the latter are kept apart (given_labels, a JSON
-- object) so that a run without `--label` keeps them instead of dropping them.
-- NULL for paths recorded before they were kept: no labels given.
ALTER TABLE harvest_paths ADD COLUMN given_labels TEXT;
-- The labels a harvested content's runs carry in run_stats and the dataset: what a
-- rescan compares with its source's labels now, to bring a relabelled or moved
-- source's runs into line. Filled for earlier harvests from their runs, else from
-- the path they were harvested from.
ALTER TABLE harvest_files ADD COLUMN labels TEXT;
UPDATE harvest_files SET labels = COALESCE(
    (SELECT MAX(s.labels) FROM run_stats s WHERE s.content_hash = harvest_files.content_hash),
    (SELECT p.labels FROM harvest_paths p
     WHERE p.content_hash = harvest_files.content_hash AND p.path = harvest_files.source_path))
WHERE status = 'harvested';
