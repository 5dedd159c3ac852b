-- Lake table `ec2_inventory` for Athena engine v3: Every EC2 instance of an account/Region, managed or not (coverage, UNMANAGED).
-- Columns mirror patch_compliance.lake.TABLES["ec2_inventory"] (a test keeps them in step).
-- Partition projection: snapshot_date as a date (no crawler, no MSCK REPAIR); account_id and
-- region enumerate the configured accounts and Regions. {{lake_uri}}, {{account_ids}},
-- {{regions}} and {{first_snapshot_date}} are filled from validated config by
-- patch_compliance.query.render_athena_ddl; nothing else is substituted.
CREATE EXTERNAL TABLE IF NOT EXISTS `ec2_inventory` (
    `instance_id` STRING,
    `state` STRING,
    `platform` STRING,
    `launch_time` TIMESTAMP,
    `team` STRING,
    `environment` STRING,
    `patch_group` STRING,
    `tags` MAP<STRING, STRING>,
    `name` STRING,
    `captured_at` TIMESTAMP
)
PARTITIONED BY (`snapshot_date` DATE, `account_id` STRING, `region` STRING)
STORED AS PARQUET
LOCATION '{{lake_uri}}/ec2_inventory/'
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
    'storage.location.template' = '{{lake_uri}}/ec2_inventory/snapshot_date=${snapshot_date}/account_id=${account_id}/region=${region}'
)
