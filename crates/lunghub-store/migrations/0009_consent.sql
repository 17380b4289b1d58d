-- A person's say over their own account (lunghub_store::consent).
-- A deleted account is a tombstone: its row stays for the submissions and reads that
-- point at it, with nothing of the person left in it.
ALTER TABLE accounts ADD COLUMN deleted_at BIGINT;
-- A partner or contributor listing is public only once the admin approves it. Listings
-- made before approvals existed were public already, and stay so.
ALTER TABLE accounts ADD COLUMN listing_approved_at BIGINT;
UPDATE accounts SET listing_approved_at = created_at WHERE listed = 1;
