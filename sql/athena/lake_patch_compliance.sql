-- Lake table `patch_compliance` for Athena engine v3: One row per (snapshot, instance, patch item) of compliance type Patch.
-- Columns mirror patch_compliance.lake.TABLES["patch_compliance"] (a test keeps them in step).
-- Partition projection: snapshot_date as a date (no crawler, no MSCK REPAIR); account_id and
-- region enumerate the configured accounts and Regions. {{lake_uri}}, {{account_ids}},
-- {{regions}} and {{first_snapshot_date}} are filled from validated config by
-- patch_compliance.query.render_athena_ddl; nothing else is substituted.
CREATE EXTERNAL TABLE IF NOT EXISTS `patch_compliance` (
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
PARTITIONED BY (`snapshot_date` DATE, `account_id` STRING, `region` STRING)
STORED AS PARQUET
LOCATION '{{lake_uri}}/patch_compliance/'
TBLPROPERTIES (
    'parquet.compression' = 'ZSTD',
    'projection.enabled' = 'true',
    'projection.snapshot_date.type' = 'date',
    'projection.snapshot_date.format' = 'yyyy-MM-dd',
    'projection.snapshot_date.range' = '{{first_snapshot_date}},NOW',
    'projection.snapshot_date.interval' = '1',
    'projection.snapshot_date.interval.unit' = 'DAYS',
    'projection.account_id.type' = 'enum',
    'projection.account_id.values' = '{{account_ids}}',
    'projection.region.type' = 'enum',
    'projection.region.values' = '{{regions}}',
    'storage.location.template' = '{{lake_uri}}/patch_compliance/snapshot_date=${snapshot_date}/account_id=${account_id}/region=${region}'
)
