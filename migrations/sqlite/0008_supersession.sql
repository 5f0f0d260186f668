-- Why a content was superseded (superseded_by names the content that took its
-- place): 'grew' when its bytes begin the newer content (a log appended to),
-- 'changed' when the source now holds other bytes (edited, shortened,
-- re-exported). NULL while the content is current, and for supersessions recorded
-- before the reason was.
ALTER TABLE harvest_files ADD COLUMN superseded_reason TEXT;
