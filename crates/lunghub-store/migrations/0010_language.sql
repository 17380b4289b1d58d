-- The language a person reads the site and our mail in ("en", "it"). NULL: follow the
-- browser's Accept-Language for pages, and English for mail.
ALTER TABLE accounts ADD COLUMN lang TEXT;
ALTER TABLE subscribers ADD COLUMN lang TEXT;
