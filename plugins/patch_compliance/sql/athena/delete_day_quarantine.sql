-- Before the Athena daily snapshot rewrites a date (patch_compliance.ingest_athena): the date's rows of the
-- lake's Iceberg table quarantine go, in one metadata-only delete (whole data files of the
-- snapshot_date partition). Dialect: Athena engine v3 (Trino). Bound parameters: snapshot_date (DATE).
DELETE FROM quarantine WHERE snapshot_date = CAST(? AS DATE)
