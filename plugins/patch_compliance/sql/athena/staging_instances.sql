-- Staging table for the Athena daily snapshot (INSERT INTO from the raw RDS tables). Athena writes
-- under <lake>/_athena_staging/instances/run_id=…; patch_compliance.query.athena_snapshot then publishes
-- those files into the lake layout with a manifest (atomic, idempotent), exactly like the embedded ingest.
-- Partitions are registered by INSERT INTO itself (no projection: run ids are not enumerable).
-- {{lake_uri}} is filled from validated config by patch_compliance.query.render_athena_ddl.
CREATE EXTERNAL TABLE IF NOT EXISTS `staging_instances` (
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
    `reference_time` TIMESTAMP,
    `quarantined_lines` BIGINT,
    `quarantined_item_lines` BIGINT,
    `capture_in_future` BOOLEAN,
    `capture_basis` STRING,
    `status_basis` STRING,
    `patch_status` STRING,
    `summary_non_compliant_count` BIGINT,
    `summary_items_mismatch` BOOLEAN,
    `invalid_timestamps` BIGINT
)
PARTITIONED BY (`run_id` STRING, `snapshot_date` DATE, `account_id` STRING, `region` STRING)
STORED AS PARQUET
LOCATION '{{lake_uri}}/_athena_staging/instances/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD')
