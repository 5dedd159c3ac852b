-- Lake table `instances` for Athena engine v3: One row per (snapshot, node), Terminated included (in_population false).
-- Columns mirror patch_compliance.lake.TABLES["instances"] (a test keeps them in step).
-- Partition projection: snapshot_date as a date (no crawler, no MSCK REPAIR); account_id and
-- region enumerate the configured accounts and Regions. {{lake_uri}}, {{account_ids}},
-- {{regions}} and {{first_snapshot_date}} are filled from validated config by
-- patch_compliance.query.render_athena_ddl; nothing else is substituted.
CREATE EXTERNAL TABLE IF NOT EXISTS `instances` (
    `instance_id` STRING,
    `resource_type` STRING,
    `computer_name` STRING,
    `ip_address` STRING,
    `platform_type` STRING,
    `platform_name` STRING,
    `platform_version` STRING,
    `agent_type` STRING,
    `agent_version` STRING,
    `agent_status` STRING,
    `instance_status` STRING,
    `team` STRING,
    `environment` STRING,
    `patch_group` STRING,
    `tags` MAP<STRING, STRING>,
    `name` STRING,
    `last_capture_time` TIMESTAMP,
    `info_capture_time` TIMESTAMP,
    `operation_type` STRING,
    `operation_start_time` TIMESTAMP,
    `operation_end_time` TIMESTAMP,
    `baseline_id` STRING,
    `scan_patch_group` STRING,
    `ssm_snapshot_id` STRING,
    `execution_id` STRING,
    `installed_count` BIGINT,
    `installed_other_count` BIGINT,
    `installed_pending_reboot_count` BIGINT,
    `installed_rejected_count` BIGINT,
    `not_applicable_count` BIGINT,
    `unreported_not_applicable_count` BIGINT,
    `missing_count` BIGINT,
    `failed_count` BIGINT,
    `critical_non_compliant_count` BIGINT,
    `security_non_compliant_count` BIGINT,
    `other_non_compliant_count` BIGINT,
    `patch_items` BIGINT,
    `non_compliant_items` BIGINT,
    `summary_status` STRING,
    `compliance_status` STRING,
    `is_stale` BOOLEAN,
    `in_population` BOOLEAN,
    `reference_time` TIMESTAMP
)
PARTITIONED BY (`snapshot_date` DATE, `account_id` STRING, `region` STRING)
STORED AS PARQUET
LOCATION '{{lake_uri}}/instances/'
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
    'storage.location.template' = '{{lake_uri}}/instances/snapshot_date=${snapshot_date}/account_id=${account_id}/region=${region}'
)
