-- Raw Resource Data Sync table `rds_patch_summary`: the AWS:PatchSummary JSON Lines exactly as RDS writes them
-- (one object per line, every value a string). Partition projection on the key layout
-- <Type>/accountid=<id>/region=<r>/resourcetype=ManagedInstanceInventory/<node>.json, so no Glue
-- crawler runs (crawlers add a duplicate resourcetype column that breaks queries) and no MSCK REPAIR.
-- {{sync_uri}} (the run's source), {{account_ids}} and {{regions}} are filled from validated config by
-- patch_compliance.ingest_athena.render_raw_ddl, {{ddl_sha256}} with the SHA-256 of the text before it
-- is filled: the daily ingest recreates the table when that fingerprint differs from Glue's.
-- Columns: every attribute of AWS:PatchSummary in AWS's inventory schema ("Metadata collected by inventory"),
-- lower-case as a Glue crawler names them, then the RDS envelope, so queries written for crawler-made
-- tables run unchanged (docs/athena.md).
CREATE EXTERNAL TABLE IF NOT EXISTS `rds_patch_summary` (
    `patchgroup` STRING,
    `baselineid` STRING,
    `snapshotid` STRING,
    `ownerinformation` STRING,
    `installedcount` STRING,
    `installedothercount` STRING,
    `installedpendingrebootcount` STRING,
    `installedrejectedcount` STRING,
    `notapplicablecount` STRING,
    `unreportednotapplicablecount` STRING,
    `missingcount` STRING,
    `failedcount` STRING,
    `operationtype` STRING,
    `operationstarttime` STRING,
    `operationendtime` STRING,
    `rebootoption` STRING,
    `installoverridelist` STRING,
    `lastnorebootinstalloperationtime` STRING,
    `executionid` STRING,
    `noncompliantseverity` STRING,
    `criticalnoncompliantcount` STRING,
    `securitynoncompliantcount` STRING,
    `othernoncompliantcount` STRING,
    `resourceid` STRING,
    `capturetime` STRING,
    `schemaversion` STRING
)
PARTITIONED BY (`accountid` STRING, `region` STRING, `resourcetype` STRING)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
    'ignore.malformed.json' = 'true',
    'case.insensitive' = 'true'
)
LOCATION '{{sync_uri}}/AWS:PatchSummary/'
TBLPROPERTIES (
    'patch_compliance.ddl_sha256' = '{{ddl_sha256}}',
    'projection.enabled' = 'true',
    'projection.accountid.type' = 'enum',
    'projection.accountid.values' = '{{account_ids}}',
    'projection.region.type' = 'enum',
    'projection.region.values' = '{{regions}}',
    'projection.resourcetype.type' = 'enum',
    'projection.resourcetype.values' = 'ManagedInstanceInventory',
    'storage.location.template' = '{{sync_uri}}/AWS:PatchSummary/accountid=${accountid}/region=${region}/resourcetype=${resourcetype}'
)
