-- Why a file of an upload was refused, as lunghub_deid::Cause names it, so the page can
-- explain it plainly whenever it is read. Empty for taken files and for lines written
-- before causes were kept.
ALTER TABLE upload_files ADD COLUMN cause TEXT NOT NULL DEFAULT '';
