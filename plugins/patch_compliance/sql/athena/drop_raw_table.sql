-- Drops one raw Resource Data Sync table before the daily ingest recreates it from a DDL file whose
-- fingerprint changed (its JSON stays in S3: the table is EXTERNAL). {{table}} is one of
-- patch_compliance.ingest_athena.RAW_TABLES, filled by render_raw_ddl.
DROP TABLE IF EXISTS {{table}}
