-- Daily snapshot on Athena: one row per node seen in any RDS type -> the lake's Iceberg table instances
-- (INSERT INTO, one Iceberg commit; the date's earlier rows are deleted first by
-- athena/delete_day_instances.sql), the same rules as the embedded ingest (sql/ingest/instances.sql
-- and instance_status.sql), first match wins:
--   STOPPED       InstanceStatus Stopped (patch_status keeps what the patch data says)
--   NO_DATA       no patch items (NotApplicable ignored) and no summary counting non-compliant patches
--   STALE         last patch-data capture older than reference_time - freshness_hours: never compliant
--   NON_COMPLIANT any item NON_COMPLIANT, or no item line but the summary counts non-compliant patches
--   COMPLIANT     items, none NON_COMPLIANT
-- Terminated nodes keep their status but leave the population (in_population = false).
-- reference_time: the day's robust reference, as the embedded ingest takes it
-- (patch_compliance.ingest.robust_reference_time): the 95th percentile of the nodes' last capture
-- times, the lower neighbour (position floor(0.95 * (n - 1)) in ascending order), so a few nodes
-- with clocks ahead do not make every other node STALE.
-- The JSON SerDe reads a malformed line as a row of NULLs instead of failing; such rows have no
-- resourceId and are no node's, so this path quarantines nothing (quarantined_* = 0).
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order:
--   snapshot_date (DATE), freshness_hours (DOUBLE), future_tolerance_hours (DOUBLE),
--   team_keys, environment_keys, patch_group_keys, name_keys (comma-separated tag keys).
INSERT INTO instances (
    instance_id, resource_type, computer_name, ip_address, platform_type, platform_name, platform_version,
    agent_type, agent_version, agent_status, instance_status, team, environment, patch_group, tags, name,
    last_capture_time, info_capture_time, operation_type, operation_start_time, operation_end_time,
    baseline_id, scan_patch_group, ssm_snapshot_id, execution_id,
    installed_count, installed_other_count, installed_pending_reboot_count, installed_rejected_count,
    not_applicable_count, unreported_not_applicable_count, missing_count, failed_count,
    critical_non_compliant_count, security_non_compliant_count, other_non_compliant_count,
    patch_items, non_compliant_items, summary_status, compliance_status, is_stale, in_population,
    reference_time, quarantined_lines, quarantined_item_lines, capture_in_future, capture_basis, status_basis,
    patch_status, summary_non_compliant_count, summary_items_mismatch, invalid_timestamps,
    snapshot_date, account_id, region
)
WITH params AS (
    SELECT
        CAST(? AS DATE) AS snapshot_date,
        CAST(? AS DOUBLE) AS freshness_hours,
        CAST(? AS DOUBLE) AS future_tolerance_hours,
        SPLIT(CAST(? AS VARCHAR), ',') AS team_keys,
        SPLIT(CAST(? AS VARCHAR), ',') AS environment_keys,
        SPLIT(CAST(? AS VARCHAR), ',') AS patch_group_keys,
        SPLIT(CAST(? AS VARCHAR), ',') AS name_keys
),
nodes AS (
    SELECT accountid, region, resourceid FROM rds_compliance_item WHERE resourceid IS NOT NULL
    UNION
    SELECT accountid, region, resourceid FROM rds_patch_summary WHERE resourceid IS NOT NULL
    UNION
    SELECT accountid, region, resourceid FROM rds_instance_information WHERE resourceid IS NOT NULL
    UNION
    SELECT accountid, region, resourceid FROM rds_tag WHERE resourceid IS NOT NULL
    UNION
    SELECT accountid, region, resourceid FROM rds_compliance_summary WHERE resourceid IS NOT NULL
),
tag_values AS (
    SELECT accountid, region, resourceid, "key" AS tag_key, MAX_BY("value", capturetime) AS tag_value
    FROM rds_tag
    WHERE COALESCE("key", '') <> ''
    GROUP BY accountid, region, resourceid, "key"
),
node_tags AS (
    SELECT accountid, region, resourceid, MAP_AGG(tag_key, COALESCE(tag_value, '')) AS tags
    FROM tag_values
    GROUP BY accountid, region, resourceid
),
node_info AS (
    SELECT
        accountid, region, resourceid,
        MAX_BY(NULLIF(node_resource_type, ''), capturetime) AS resource_type,
        MAX_BY(NULLIF(computername, ''), capturetime) AS computer_name,
        MAX_BY(NULLIF(ipaddress, ''), capturetime) AS ip_address,
        MAX_BY(NULLIF(platformtype, ''), capturetime) AS platform_type,
        MAX_BY(NULLIF(platformname, ''), capturetime) AS platform_name,
        MAX_BY(NULLIF(platformversion, ''), capturetime) AS platform_version,
        MAX_BY(NULLIF(agenttype, ''), capturetime) AS agent_type,
        MAX_BY(NULLIF(agentversion, ''), capturetime) AS agent_version,
        MAX_BY(NULLIF(agentstatus, ''), capturetime) AS agent_status,
        MAX_BY(NULLIF(instancestatus, ''), capturetime) AS instance_status,
        MAX(IF(REGEXP_LIKE(capturetime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(capturetime)))) AS info_capture_time
    FROM rds_instance_information
    GROUP BY accountid, region, resourceid
),
item_stats AS (
    SELECT
        accountid, region, resourceid,
        COUNT(*) AS item_lines,
        MAX(IF(REGEXP_LIKE(executiontime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(executiontime))))
            AS items_execution_time,
        COUNT_IF(UPPER(REPLACE(COALESCE(patchstate, ''), '_', '')) = 'MISSING') AS items_missing,
        COUNT_IF(UPPER(REPLACE(COALESCE(patchstate, ''), '_', '')) = 'FAILED') AS items_failed,
        COUNT_IF(UPPER(REPLACE(COALESCE(patchstate, ''), '_', '')) = 'INSTALLEDPENDINGREBOOT') AS items_pending_reboot,
        COUNT_IF(UPPER(REPLACE(COALESCE(patchstate, ''), '_', '')) = 'INSTALLEDREJECTED') AS items_rejected,
        MAX(IF(REGEXP_LIKE(capturetime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(capturetime)))) AS items_capture_time,
        COUNT_IF(NULLIF(status, '') IS NOT NULL
                 AND UPPER(REPLACE(COALESCE(patchstate, ''), '_', '')) <> 'NOTAPPLICABLE') AS patch_items,
        COUNT_IF(UPPER(status) = 'NON_COMPLIANT'
                 AND UPPER(REPLACE(COALESCE(patchstate, ''), '_', '')) <> 'NOTAPPLICABLE') AS non_compliant_items
    FROM rds_compliance_item
    WHERE compliancetype = 'Patch'
    GROUP BY accountid, region, resourceid
),
summary AS (
    SELECT
        accountid, region, resourceid,
        MAX(IF(REGEXP_LIKE(capturetime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(capturetime)))) AS summary_capture_time,
        MAX_BY(NULLIF(operationtype, ''), capturetime) AS operation_type,
        MAX_BY(IF(REGEXP_LIKE(operationstarttime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(operationstarttime))), capturetime) AS operation_start_time,
        MAX_BY(IF(REGEXP_LIKE(operationendtime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(operationendtime))), capturetime) AS operation_end_time,
        MAX_BY(NULLIF(baselineid, ''), capturetime) AS baseline_id,
        MAX_BY(NULLIF(patchgroup, ''), capturetime) AS scan_patch_group,
        MAX_BY(NULLIF(snapshotid, ''), capturetime) AS ssm_snapshot_id,
        MAX_BY(NULLIF(executionid, ''), capturetime) AS execution_id,
        MAX_BY(TRY_CAST(NULLIF(installedcount, '') AS BIGINT), capturetime) AS installed_count,
        MAX_BY(TRY_CAST(NULLIF(installedothercount, '') AS BIGINT), capturetime) AS installed_other_count,
        MAX_BY(TRY_CAST(NULLIF(installedpendingrebootcount, '') AS BIGINT), capturetime) AS installed_pending_reboot_count,
        MAX_BY(TRY_CAST(NULLIF(installedrejectedcount, '') AS BIGINT), capturetime) AS installed_rejected_count,
        MAX_BY(TRY_CAST(NULLIF(notapplicablecount, '') AS BIGINT), capturetime) AS not_applicable_count,
        MAX_BY(TRY_CAST(NULLIF(unreportednotapplicablecount, '') AS BIGINT), capturetime)
            AS unreported_not_applicable_count,
        MAX_BY(TRY_CAST(NULLIF(missingcount, '') AS BIGINT), capturetime) AS missing_count,
        MAX_BY(TRY_CAST(NULLIF(failedcount, '') AS BIGINT), capturetime) AS failed_count,
        MAX_BY(TRY_CAST(NULLIF(criticalnoncompliantcount, '') AS BIGINT), capturetime) AS critical_non_compliant_count,
        MAX_BY(TRY_CAST(NULLIF(securitynoncompliantcount, '') AS BIGINT), capturetime) AS security_non_compliant_count,
        MAX_BY(TRY_CAST(NULLIF(othernoncompliantcount, '') AS BIGINT), capturetime) AS other_non_compliant_count
    FROM rds_patch_summary
    GROUP BY accountid, region, resourceid
),
-- Timestamps present but not ISO-8601, per node (the embedded ingest also keeps each one's text).
invalid_times AS (
    SELECT accountid, region, resourceid, SUM(n) AS invalid_timestamps
    FROM (
        SELECT accountid, region, resourceid,
               IF(COALESCE(capturetime, '') <> '' AND IF(REGEXP_LIKE(capturetime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(capturetime))) IS NULL, 1, 0) + IF(COALESCE(executiontime, '') <> '' AND IF(REGEXP_LIKE(executiontime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(executiontime))) IS NULL, 1, 0) + IF(COALESCE(installedtime, '') <> '' AND IF(REGEXP_LIKE(installedtime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(installedtime))) IS NULL, 1, 0) AS n
        FROM rds_compliance_item
        UNION ALL
        SELECT accountid, region, resourceid,
               IF(COALESCE(capturetime, '') <> '' AND IF(REGEXP_LIKE(capturetime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(capturetime))) IS NULL, 1, 0) + IF(COALESCE(operationstarttime, '') <> '' AND IF(REGEXP_LIKE(operationstarttime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(operationstarttime))) IS NULL, 1, 0) + IF(COALESCE(operationendtime, '') <> '' AND IF(REGEXP_LIKE(operationendtime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(operationendtime))) IS NULL, 1, 0)
        FROM rds_patch_summary
        UNION ALL
        SELECT accountid, region, resourceid, IF(COALESCE(capturetime, '') <> '' AND IF(REGEXP_LIKE(capturetime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(capturetime))) IS NULL, 1, 0) FROM rds_instance_information
        UNION ALL
        SELECT accountid, region, resourceid, IF(COALESCE(capturetime, '') <> '' AND IF(REGEXP_LIKE(capturetime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(capturetime))) IS NULL, 1, 0) FROM rds_tag
        UNION ALL
        SELECT accountid, region, resourceid, IF(COALESCE(capturetime, '') <> '' AND IF(REGEXP_LIKE(capturetime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(capturetime))) IS NULL, 1, 0) + IF(COALESCE(executiontime, '') <> '' AND IF(REGEXP_LIKE(executiontime, '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$'), TRY(FROM_ISO8601_TIMESTAMP(executiontime))) IS NULL, 1, 0)
        FROM rds_compliance_summary
    ) AS t
    GROUP BY accountid, region, resourceid
),
compliance_summary AS (
    SELECT accountid, region, resourceid, MAX_BY(NULLIF(UPPER(status), ''), capturetime) AS summary_status
    FROM rds_compliance_summary
    WHERE compliancetype = 'Patch'
    GROUP BY accountid, region, resourceid
),
assembled AS (
    SELECT
        nd.accountid AS account_id,
        nd.region,
        nd.resourceid AS instance_id,
        COALESCE(n.resource_type,
                 CASE WHEN STARTS_WITH(nd.resourceid, 'mi-') THEN 'ManagedInstance' ELSE 'EC2Instance' END)
            AS resource_type,
        n.computer_name, n.ip_address, n.platform_type, n.platform_name, n.platform_version,
        n.agent_type, n.agent_version, n.agent_status, n.instance_status,
        ELEMENT_AT(FILTER(TRANSFORM(p.team_keys, k -> TRIM(BOTH ' ' FROM ELEMENT_AT(t.tags, k))), v -> COALESCE(v, '') <> ''), 1)
            AS team,
        ELEMENT_AT(FILTER(TRANSFORM(p.environment_keys, k -> TRIM(BOTH ' ' FROM ELEMENT_AT(t.tags, k))),
                          v -> COALESCE(v, '') <> ''), 1) AS environment,
        ELEMENT_AT(FILTER(TRANSFORM(p.patch_group_keys, k -> TRIM(BOTH ' ' FROM ELEMENT_AT(t.tags, k))),
                          v -> COALESCE(v, '') <> ''), 1) AS patch_group,
        COALESCE(t.tags, MAP()) AS tags,
        ELEMENT_AT(FILTER(TRANSFORM(p.name_keys, k -> TRIM(BOTH ' ' FROM ELEMENT_AT(t.tags, k))), v -> COALESCE(v, '') <> ''), 1)
            AS name,
        COALESCE(CASE
            WHEN s.items_capture_time IS NULL THEN m.summary_capture_time
            WHEN m.summary_capture_time IS NULL THEN s.items_capture_time
            ELSE GREATEST(s.items_capture_time, m.summary_capture_time)
        END, m.operation_end_time, s.items_execution_time) AS last_capture_time,
        CASE
            WHEN COALESCE(s.items_capture_time, m.summary_capture_time) IS NOT NULL THEN 'capture_time'
            WHEN m.operation_end_time IS NOT NULL THEN 'operation_end_time'
            WHEN s.items_execution_time IS NOT NULL THEN 'execution_time'
        END AS capture_basis,
        CASE WHEN m.resourceid IS NOT NULL THEN
            COALESCE(m.missing_count, 0) + COALESCE(m.failed_count, 0)
            + COALESCE(m.installed_pending_reboot_count, 0) + COALESCE(m.installed_rejected_count, 0)
        END AS summary_non_compliant_count,
        COALESCE(m.resourceid IS NOT NULL AND COALESCE(s.item_lines, 0) > 0 AND (
            COALESCE(m.missing_count, 0) <> s.items_missing
            OR COALESCE(m.failed_count, 0) <> s.items_failed
            OR COALESCE(m.installed_pending_reboot_count, 0) <> s.items_pending_reboot
            OR COALESCE(m.installed_rejected_count, 0) <> s.items_rejected), FALSE) AS summary_items_mismatch,
        COALESCE(s.item_lines, 0) = 0 AND m.resourceid IS NOT NULL AND (
            COALESCE(m.missing_count, 0) + COALESCE(m.failed_count, 0)
            + COALESCE(m.installed_pending_reboot_count, 0) + COALESCE(m.installed_rejected_count, 0)) > 0
            AS summary_only,
        COALESCE(v.invalid_timestamps, 0) AS invalid_timestamps,
        n.info_capture_time,
        m.operation_type, m.operation_start_time, m.operation_end_time,
        m.baseline_id, m.scan_patch_group, m.ssm_snapshot_id, m.execution_id,
        m.installed_count, m.installed_other_count, m.installed_pending_reboot_count, m.installed_rejected_count,
        m.not_applicable_count, m.unreported_not_applicable_count, m.missing_count, m.failed_count,
        m.critical_non_compliant_count, m.security_non_compliant_count, m.other_non_compliant_count,
        COALESCE(s.patch_items, 0) AS patch_items,
        COALESCE(s.non_compliant_items, 0) AS non_compliant_items,
        c.summary_status,
        p.freshness_hours,
        p.future_tolerance_hours,
        p.snapshot_date
    FROM nodes AS nd
    CROSS JOIN params AS p
    LEFT JOIN node_info AS n
      ON n.accountid = nd.accountid AND n.region = nd.region AND n.resourceid = nd.resourceid
    LEFT JOIN node_tags AS t
      ON t.accountid = nd.accountid AND t.region = nd.region AND t.resourceid = nd.resourceid
    LEFT JOIN item_stats AS s
      ON s.accountid = nd.accountid AND s.region = nd.region AND s.resourceid = nd.resourceid
    LEFT JOIN summary AS m
      ON m.accountid = nd.accountid AND m.region = nd.region AND m.resourceid = nd.resourceid
    LEFT JOIN compliance_summary AS c
      ON c.accountid = nd.accountid AND c.region = nd.region AND c.resourceid = nd.resourceid
    LEFT JOIN invalid_times AS v
      ON v.accountid = nd.accountid AND v.region = nd.region AND v.resourceid = nd.resourceid
),
captures AS (
    SELECT
        last_capture_time,
        ROW_NUMBER() OVER (ORDER BY last_capture_time) - 1 AS position,
        COUNT(*) OVER () AS captured
    FROM assembled
    WHERE last_capture_time IS NOT NULL
),
reference AS (
    SELECT MIN(last_capture_time) AS reference_time
    FROM captures
    WHERE position = CAST(FLOOR(CAST(0.95 AS DOUBLE) * (captured - 1)) AS BIGINT)
),
classified AS (
    SELECT
        a.*,
        r.reference_time,
        a.last_capture_time IS NULL
            OR a.last_capture_time < r.reference_time - a.freshness_hours * INTERVAL '1' HOUR AS stale
    FROM assembled AS a
    CROSS JOIN reference AS r
),
judged AS (
    SELECT
        c.*,
        CASE
            WHEN c.patch_items = 0 AND NOT c.summary_only THEN 'NO_DATA'
            WHEN c.stale THEN 'STALE'
            WHEN c.non_compliant_items > 0 OR c.summary_only THEN 'NON_COMPLIANT'
            ELSE 'COMPLIANT'
        END AS patch_status
    FROM classified AS c
)
SELECT
    instance_id, resource_type, computer_name, ip_address, platform_type, platform_name, platform_version,
    agent_type, agent_version, agent_status, instance_status, team, environment, patch_group, tags, name,
    CAST(last_capture_time AS TIMESTAMP(6) WITH TIME ZONE) AS last_capture_time,
    CAST(info_capture_time AS TIMESTAMP(6) WITH TIME ZONE) AS info_capture_time,
    operation_type,
    CAST(operation_start_time AS TIMESTAMP(6) WITH TIME ZONE) AS operation_start_time,
    CAST(operation_end_time AS TIMESTAMP(6) WITH TIME ZONE) AS operation_end_time,
    baseline_id, scan_patch_group, ssm_snapshot_id, execution_id,
    installed_count, installed_other_count, installed_pending_reboot_count, installed_rejected_count,
    not_applicable_count, unreported_not_applicable_count, missing_count, failed_count,
    critical_non_compliant_count, security_non_compliant_count, other_non_compliant_count,
    patch_items, non_compliant_items, summary_status,
    CASE WHEN LOWER(COALESCE(instance_status, '')) = 'stopped' THEN 'STOPPED' ELSE patch_status END
        AS compliance_status,
    stale AS is_stale,
    LOWER(COALESCE(instance_status, '')) <> 'terminated' AS in_population,
    CAST(reference_time AS TIMESTAMP(6) WITH TIME ZONE) AS reference_time,
    CAST(0 AS BIGINT) AS quarantined_lines,
    CAST(0 AS BIGINT) AS quarantined_item_lines,
    COALESCE(last_capture_time > reference_time + future_tolerance_hours * INTERVAL '1' HOUR, FALSE)
        AS capture_in_future,
    capture_basis,
    CASE WHEN patch_items > 0 THEN 'items' WHEN summary_only THEN 'summary' END AS status_basis,
    patch_status,
    summary_non_compliant_count,
    summary_items_mismatch,
    invalid_timestamps,
    snapshot_date,
    account_id,
    region
FROM judged
