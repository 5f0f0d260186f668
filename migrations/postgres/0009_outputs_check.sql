-- What a rescan needs to tell a harvest's outputs are still in place without
-- reading them: the size of each of its dataset files (a JSON list in the order of
-- dataset_files; NULL for harvests made before sizes were recorded, or uploaded to
-- an object store, which are checked for presence only).
ALTER TABLE harvest_files ADD COLUMN dataset_sizes TEXT;
-- When a rescan found some of a current harvest's outputs gone and no source left
-- to rebuild them from (NULL while they are in place, or once rebuilt). A content
-- is warned of once, when this is set.
ALTER TABLE harvest_files ADD COLUMN outputs_missing_since TEXT;

-- Current harvests whose outputs are gone and cannot be rebuilt until their content
-- is seen again at some source: the fleet's list of holes in the dataset.
CREATE VIEW missing_outputs AS
SELECT f.content_hash, f.source_path, f.output_root, f.output_dir, f.runs,
       f.outputs_missing_since
FROM harvest_files f
WHERE f.status = 'harvested' AND f.superseded_by IS NULL
  AND f.outputs_missing_since IS NOT NULL;
