-- One hospital, one record: the institute of the onboarding tracker is the site that sends
-- data, and its stage decides whether data is accepted. A site without an institute is
-- one of the operator's own collections (public datasets ingested from the command line).
-- A site with a gateway is registered with the fingerprint of the gateway's key: its
-- instances are checked, not keyed again.

ALTER TABLE sites ADD COLUMN institute_id TEXT REFERENCES institutes (id);
ALTER TABLE sites ADD COLUMN gateway_fingerprint TEXT;
CREATE UNIQUE INDEX sites_by_institute ON sites (institute_id);

-- Institutes and sites made before this migration were linked only by a typed name.
UPDATE sites SET institute_id = (SELECT i.id FROM institutes i WHERE i.name = sites.name);
INSERT INTO sites (id, name, created_at, institute_id)
    SELECT i.id, i.name, i.created_at, i.id FROM institutes i
    WHERE NOT EXISTS (SELECT 1 FROM sites s WHERE s.institute_id = i.id);
-- upload_files.outcome may now also be 'refused' (the ethics gate closed the site).
