-- Lake table `patch_catalog` for Athena engine v3: Patch release dates and CVEs where a catalog is known.
-- Columns mirror patch_compliance.lake.TABLES["patch_catalog"] (a test keeps them in step).
-- Partition projection: snapshot_date as a date (no crawler, no MSCK REPAIR); account_id and
-- region enumerate the configured accounts and Regions. {{lake_uri}}, {{account_ids}},
-- {{regions}} and {{first_snapshot_date}} are filled from validated config by
-- patch_compliance.query.render_athena_ddl; nothing else is substituted.
CREATE EXTERNAL TABLE IF NOT EXISTS `patch_catalog` (
    `patch_id` STRING,
    `title` STRING,
    `product` STRING,
    `classification` STRING,
    `severity` STRING,
    `release_date` DATE,
    `cve_ids` ARRAY<STRING>,
    `source` STRING
)
PARTITIONED BY (`snapshot_date` DATE, `account_id` STRING, `region` STRING)
STORED AS PARQUET
LOCATION '{{lake_uri}}/patch_catalog/'
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
    'storage.location.template' = '{{lake_uri}}/patch_catalog/snapshot_date=${snapshot_date}/account_id=${account_id}/region=${region}'
)
