-- One row per node of one account/Region seen in any RDS type (node ids come from the object
-- keys, so a node with only tags or only instance information is still listed, as NO_DATA).
-- Reads pc (this group's patch_compliance rows), the node_* tables, node_quarantine (lines of the
-- node that could not be ingested) and invalid_values (timestamps that did not parse); compliance status is
-- computed later by instance_status.sql, once the day's reference time is known.
WITH nodes AS (
    SELECT DISTINCT node_id AS instance_id FROM sources
),
-- Items that count for compliance: NotApplicable (or Status "") items are ignored. The per-state
-- counts are compared with AWS:PatchSummary's.
item_stats AS (
    SELECT instance_id,
           max(capture_time) AS items_capture_time,
           max(execution_time) AS items_execution_time,
           count(*) AS item_lines,
           count(*) FILTER (WHERE patch_state = 'Missing') AS items_missing,
           count(*) FILTER (WHERE patch_state = 'Failed') AS items_failed,
           count(*) FILTER (WHERE patch_state = 'InstalledPendingReboot') AS items_pending_reboot,
           count(*) FILTER (WHERE patch_state = 'InstalledRejected') AS items_rejected,
           count(*) FILTER (WHERE status IS NOT NULL AND coalesce(patch_state, '') <> 'NotApplicable') AS patch_items,
           count(*) FILTER (WHERE status = 'NON_COMPLIANT' AND coalesce(patch_state, '') <> 'NotApplicable')
               AS non_compliant_items
    FROM pc
    GROUP BY instance_id
),
summary AS (
    SELECT resourceId AS instance_id,
           true AS has_summary,
           rds_time(captureTime) AS summary_capture_time,
           nullif(OperationType, '') AS operation_type,
           rds_time(OperationStartTime) AS operation_start_time,
           rds_time(OperationEndTime) AS operation_end_time,
           nullif(BaselineId, '') AS baseline_id,
           nullif(PatchGroup, '') AS scan_patch_group,
           nullif(SnapshotId, '') AS ssm_snapshot_id,
           nullif(ExecutionId, '') AS execution_id,
           try_cast(nullif(InstalledCount, '') AS BIGINT) AS installed_count,
           try_cast(nullif(InstalledOtherCount, '') AS BIGINT) AS installed_other_count,
           try_cast(nullif(InstalledPendingRebootCount, '') AS BIGINT) AS installed_pending_reboot_count,
           try_cast(nullif(InstalledRejectedCount, '') AS BIGINT) AS installed_rejected_count,
           try_cast(nullif(NotApplicableCount, '') AS BIGINT) AS not_applicable_count,
           try_cast(nullif(UnreportedNotApplicableCount, '') AS BIGINT) AS unreported_not_applicable_count,
           try_cast(nullif(MissingCount, '') AS BIGINT) AS missing_count,
           try_cast(nullif(FailedCount, '') AS BIGINT) AS failed_count,
           try_cast(nullif(CriticalNonCompliantCount, '') AS BIGINT) AS critical_non_compliant_count,
           try_cast(nullif(SecurityNonCompliantCount, '') AS BIGINT) AS security_non_compliant_count,
           try_cast(nullif(OtherNonCompliantCount, '') AS BIGINT) AS other_non_compliant_count,
           -- What the summary counts as non-compliant: Missing, Failed, InstalledPendingReboot, InstalledRejected.
           coalesce(try_cast(nullif(MissingCount, '') AS BIGINT), 0)
               + coalesce(try_cast(nullif(FailedCount, '') AS BIGINT), 0)
               + coalesce(try_cast(nullif(InstalledPendingRebootCount, '') AS BIGINT), 0)
               + coalesce(try_cast(nullif(InstalledRejectedCount, '') AS BIGINT), 0) AS summary_non_compliant_count
    FROM summary_raw
    QUALIFY row_number() OVER (PARTITION BY resourceId ORDER BY line_number DESC) = 1
),
compliance_summary AS (
    SELECT resourceId AS instance_id,
           true AS has_summary, nullif(upper(Status), '') AS summary_status
    FROM csummary_raw
    WHERE ComplianceType = 'Patch'
    QUALIFY row_number() OVER (PARTITION BY resourceId ORDER BY line_number DESC) = 1
)
SELECT
    $account_id AS account_id,
    $region AS region,
    nodes.instance_id,
    coalesce(n.resource_type,
             CASE WHEN starts_with(nodes.instance_id, 'mi-') THEN 'ManagedInstance' ELSE 'EC2Instance' END)
        AS resource_type,
    n.computer_name, n.ip_address, n.platform_type, n.platform_name, n.platform_version,
    n.agent_type, n.agent_version, n.agent_status, n.instance_status,
    t.team, t.environment, t.patch_group, coalesce(t.tags, MAP {}) AS tags, t.name,
    -- Freshness comes from patch data only (never AWS:InstanceInformation): its captureTime, else the
    -- summary's OperationEndTime, else the items' ExecutionTime; capture_basis says which.
    coalesce(list_max([s.items_capture_time, m.summary_capture_time]), m.operation_end_time,
             s.items_execution_time) AS last_capture_time,
    n.info_capture_time,
    m.operation_type, m.operation_start_time, m.operation_end_time,
    m.baseline_id, m.scan_patch_group, m.ssm_snapshot_id, m.execution_id,
    m.installed_count, m.installed_other_count, m.installed_pending_reboot_count, m.installed_rejected_count,
    m.not_applicable_count, m.unreported_not_applicable_count, m.missing_count, m.failed_count,
    m.critical_non_compliant_count, m.security_non_compliant_count, m.other_non_compliant_count,
    coalesce(s.patch_items, 0) AS patch_items,
    coalesce(s.non_compliant_items, 0) AS non_compliant_items,
    c.summary_status,
    coalesce(q.quarantined_lines, 0) AS quarantined_lines,
    coalesce(q.quarantined_item_lines, 0) AS quarantined_item_lines,
    CASE
        WHEN list_max([s.items_capture_time, m.summary_capture_time]) IS NOT NULL THEN 'capture_time'
        WHEN m.operation_end_time IS NOT NULL THEN 'operation_end_time'
        WHEN s.items_execution_time IS NOT NULL THEN 'execution_time'
    END AS capture_basis,
    m.summary_non_compliant_count,  -- NULL without a summary
    -- Items and summary both present but counting those four states differently (lines lost to
    -- quarantine explain a difference on their own, so those nodes are not flagged here).
    coalesce(m.has_summary AND coalesce(s.item_lines, 0) > 0 AND coalesce(q.quarantined_item_lines, 0) = 0 AND (
        coalesce(m.missing_count, 0) <> s.items_missing
        OR coalesce(m.failed_count, 0) <> s.items_failed
        OR coalesce(m.installed_pending_reboot_count, 0) <> s.items_pending_reboot
        OR coalesce(m.installed_rejected_count, 0) <> s.items_rejected), false) AS summary_items_mismatch,
    coalesce(v.invalid_timestamps, 0) AS invalid_timestamps,
    -- No AWS:ComplianceItem line at all, but the summary counts non-compliant patches.
    coalesce(s.item_lines, 0) = 0 AND coalesce(m.summary_non_compliant_count, 0) > 0 AS summary_only
FROM nodes
LEFT JOIN node_info AS n USING (instance_id)
LEFT JOIN node_tags AS t USING (instance_id)
LEFT JOIN item_stats AS s USING (instance_id)
LEFT JOIN summary AS m USING (instance_id)
LEFT JOIN compliance_summary AS c USING (instance_id)
LEFT JOIN node_quarantine AS q USING (instance_id)
LEFT JOIN (SELECT instance_id, count(*) AS invalid_timestamps FROM invalid_values GROUP BY instance_id) AS v
    USING (instance_id)
ORDER BY nodes.instance_id
