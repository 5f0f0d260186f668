-- Where a harvest's outputs are: output_dir is now the directory's name under
-- output_root, an absolute path recorded at harvest time, so the location can be
-- resolved from any working directory (rows harvested before keep output_dir as
-- the path was given, and output_root NULL).
ALTER TABLE harvest_files ADD COLUMN output_root TEXT;
