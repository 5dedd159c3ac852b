-- Staging table for the Athena daily snapshot (INSERT INTO from the raw RDS tables). Athena writes
-- under <lake>/_athena_staging/patch_compliance/run_id=…; patch_compliance.query.athena_snapshot then publishes
-- those files into the lake layout with a manifest (atomic, idempotent), exactly like the embedded ingest.
-- Partitions are registered by INSERT INTO itself (no projection: run ids are not enumerable).
-- {{lake_uri}} is filled from validated config by patch_compliance.query.render_athena_ddl.
CREATE EXTERNAL TABLE IF NOT EXISTS `staging_patch_compliance` (
    `instance_id` STRING,
    `resource_type` STRING,
    `capture_time` TIMESTAMP,
    `execution_id` STRING,
    `execution_type` STRING,
    `execution_time` TIMESTAMP,
    `patch_id` STRING,
    `title` STRING,
    `status` STRING,
    `severity` STRING,
    `patch_severity` STRING,
    `classification` STRING,
    `patch_state` STRING,
    `installed_time` TIMESTAMP,
    `baseline_id` STRING,
    `scan_patch_group` STRING,
    `document_name` STRING,
    `document_version` STRING,
    `cve_ids` ARRAY<STRING>,
    `team` STRING,
    `environment` STRING,
    `patch_group` STRING,
    `tags` MAP<STRING, STRING>,
    `platform_type` STRING,
    `platform_name` STRING
)
PARTITIONED BY (`run_id` STRING, `snapshot_date` DATE, `account_id` STRING, `region` STRING)
STORED AS PARQUET
LOCATION '{{lake_uri}}/_athena_staging/patch_compliance/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD')
