-- Macros the ingest SQL shares (DuckDB), created once per connection.

-- A Resource Data Sync timestamp: ISO-8601 with Z or an offset, with or without fractions, as a
-- TIMESTAMPTZ (UTC); NULL for empty text and for anything else. invalid_timestamps.sql lists the
-- "anything else", so a timestamp that does not parse is never a silent NULL.
CREATE OR REPLACE TEMP MACRO rds_time(value) AS
    CASE
        WHEN regexp_full_match(value, '\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})')
            THEN try_cast(value AS TIMESTAMPTZ)
    END;

-- True for text that is present but is not a timestamp rds_time accepts.
CREATE OR REPLACE TEMP MACRO rds_time_invalid(value) AS
    coalesce(value, '') <> '' AND rds_time(value) IS NULL;

-- CVE ids from comma / semicolon / whitespace separated text or a JSON array string
-- ('["CVE-2026-0101", "CVE-2026-0102"]'), upper-cased, deduplicated and sorted.
CREATE OR REPLACE TEMP MACRO rds_cve_ids(value) AS
    list_sort(list_distinct(list_filter(
        regexp_split_to_array(upper(trim(coalesce(value, ''))), '[\s,;"\[\]'']+'), lambda c: c <> '')));
