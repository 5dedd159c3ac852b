-- Daily snapshot on Athena: RDS AWS:ComplianceItem JSON -> the lake's Iceberg table patch_compliance
-- (INSERT INTO, one Iceberg commit; the date's earlier rows are deleted first by
-- athena/delete_day_patch_compliance.sql). The same transformation as the embedded ingest
-- (sql/ingest/patch_compliance.sql): empty strings become NULL, both PatchState spellings become
-- PascalCase, CVEIds (separated text or a JSON array string) become a sorted array, timestamps that
-- are not ISO-8601 become NULL (the embedded ingest also keeps their text in invalid_values), the
-- node's tags and platform are on every row. Lines without a resourceId (the JSON SerDe reads a
-- malformed line as a row of NULLs) are not items of any node.
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order:
--   snapshot_date (DATE), team_keys, environment_keys, patch_group_keys
--   (comma-separated tag keys, first non-empty wins).
INSERT INTO patch_compliance (
    snapshot_date, account_id, region, instance_id, resource_type, capture_time, execution_id, execution_type,
    execution_time, patch_id, title, status, severity, patch_severity, classification, patch_state,
    installed_time, baseline_id, scan_patch_group, document_name, document_version, cve_ids, team, environment,
    patch_group, tags, platform_type, platform_name
)
WITH params AS (
    SELECT
        CAST(? AS DATE) AS snapshot_date,
        SPLIT(CAST(? AS VARCHAR), ',') AS team_keys,
        SPLIT(CAST(? AS VARCHAR), ',') AS environment_keys,
        SPLIT(CAST(? AS VARCHAR), ',') AS patch_group_keys
),
tag_values AS (
    SELECT accountid, region, resourceid, "key" AS tag_key, MAX_BY("value", capturetime) AS tag_value
    FROM rds_tag
    WHERE COALESCE("key", '') <> ''
    GROUP BY accountid, region, resourceid, "key"
),
node_tags AS (
    SELECT
        t.accountid,
        t.region,
        t.resourceid,
        MAP_AGG(t.tag_key, COALESCE(t.tag_value, '')) AS tags
    FROM tag_values AS t
    GROUP BY t.accountid, t.region, t.resourceid
),
node_info AS (
    SELECT
        accountid, region, resourceid,
        MAX_BY(NULLIF(node_resource_type, ''), capturetime) AS resource_type,
        MAX_BY(NULLIF(platformtype, ''), capturetime) AS platform_type,
        MAX_BY(NULLIF(platformname, ''), capturetime) AS platform_name
    FROM rds_instance_information
    GROUP BY accountid, region, resourceid
)
SELECT
    p.snapshot_date,
    i.accountid AS account_id,
    i.region,
    i.resourceid AS instance_id,
    COALESCE(n.resource_type,
             CASE WHEN STARTS_WITH(i.resourceid, 'mi-') THEN 'ManagedInstance' ELSE 'EC2Instance' END)
        AS resource_type,
    CAST(IF(REGEXP_LIKE(i.capturetime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(i.capturetime))) AS TIMESTAMP(6) WITH TIME ZONE) AS capture_time,
    NULLIF(i.executionid, '') AS execution_id,
    NULLIF(i.executiontype, '') AS execution_type,
    CAST(IF(REGEXP_LIKE(i.executiontime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(i.executiontime))) AS TIMESTAMP(6) WITH TIME ZONE) AS execution_time,
    NULLIF(i.id, '') AS patch_id,
    NULLIF(i.title, '') AS title,
    NULLIF(UPPER(i.status), '') AS status,
    NULLIF(UPPER(i.severity), '') AS severity,
    NULLIF(i.patchseverity, '') AS patch_severity,
    NULLIF(i.classification, '') AS classification,
    CASE UPPER(REPLACE(i.patchstate, '_', ''))
        WHEN 'INSTALLED' THEN 'Installed'
        WHEN 'INSTALLEDOTHER' THEN 'InstalledOther'
        WHEN 'INSTALLEDPENDINGREBOOT' THEN 'InstalledPendingReboot'
        WHEN 'INSTALLEDREJECTED' THEN 'InstalledRejected'
        WHEN 'MISSING' THEN 'Missing'
        WHEN 'FAILED' THEN 'Failed'
        WHEN 'NOTAPPLICABLE' THEN 'NotApplicable'
        WHEN 'AVAILABLESECURITYUPDATE' THEN 'AvailableSecurityUpdate'
        ELSE NULLIF(i.patchstate, '')
    END AS patch_state,
    CAST(IF(REGEXP_LIKE(i.installedtime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(i.installedtime))) AS TIMESTAMP(6) WITH TIME ZONE) AS installed_time,
    NULLIF(i.patchbaselineid, '') AS baseline_id,
    NULLIF(i.patchgroup, '') AS scan_patch_group,
    NULLIF(i.documentname, '') AS document_name,
    NULLIF(i.documentversion, '') AS document_version,
    ARRAY_SORT(ARRAY_DISTINCT(FILTER(REGEXP_SPLIT(UPPER(TRIM(BOTH ' ' FROM COALESCE(i.cveids, ''))), '[\s,;"\[\]'']+'),
                                     c -> c <> ''))) AS cve_ids,
    ELEMENT_AT(FILTER(TRANSFORM(p.team_keys, k -> TRIM(BOTH ' ' FROM ELEMENT_AT(t.tags, k))), v -> COALESCE(v, '') <> ''), 1)
        AS team,
    ELEMENT_AT(FILTER(TRANSFORM(p.environment_keys, k -> TRIM(BOTH ' ' FROM ELEMENT_AT(t.tags, k))), v -> COALESCE(v, '') <> ''), 1)
        AS environment,
    ELEMENT_AT(FILTER(TRANSFORM(p.patch_group_keys, k -> TRIM(BOTH ' ' FROM ELEMENT_AT(t.tags, k))), v -> COALESCE(v, '') <> ''), 1)
        AS patch_group,
    COALESCE(t.tags, MAP()) AS tags,
    n.platform_type,
    n.platform_name
FROM rds_compliance_item AS i
CROSS JOIN params AS p
LEFT JOIN node_tags AS t
  ON t.accountid = i.accountid AND t.region = i.region AND t.resourceid = i.resourceid
LEFT JOIN node_info AS n
  ON n.accountid = i.accountid AND n.region = i.region AND n.resourceid = i.resourceid
WHERE i.compliancetype = 'Patch'
  AND i.resourceid IS NOT NULL
