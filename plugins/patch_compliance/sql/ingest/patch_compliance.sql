-- One row per (instance, patch item) of compliance type Patch, typed, with the node's tags and
-- platform on every row. Empty strings become NULL; both PatchState spellings (PascalCase and
-- UPPER_SNAKE) become PascalCase; CVEIds (separated text or a JSON array string) become a sorted list;
-- timestamps go through rds_time (macros.sql).
SELECT
    i.resourceId AS instance_id,
    coalesce(n.resource_type,
             CASE WHEN starts_with(i.resourceId, 'mi-') THEN 'ManagedInstance' ELSE 'EC2Instance' END) AS resource_type,
    rds_time(i.captureTime) AS capture_time,
    nullif(i.ExecutionId, '') AS execution_id,
    nullif(i.ExecutionType, '') AS execution_type,
    rds_time(i.ExecutionTime) AS execution_time,
    nullif(i.Id, '') AS patch_id,
    nullif(i.Title, '') AS title,
    nullif(upper(i.Status), '') AS status,
    nullif(upper(i.Severity), '') AS severity,
    nullif(i.PatchSeverity, '') AS patch_severity,
    nullif(i.Classification, '') AS classification,
    CASE upper(replace(i.PatchState, '_', ''))
        WHEN 'INSTALLED' THEN 'Installed'
        WHEN 'INSTALLEDOTHER' THEN 'InstalledOther'
        WHEN 'INSTALLEDPENDINGREBOOT' THEN 'InstalledPendingReboot'
        WHEN 'INSTALLEDREJECTED' THEN 'InstalledRejected'
        WHEN 'MISSING' THEN 'Missing'
        WHEN 'FAILED' THEN 'Failed'
        WHEN 'NOTAPPLICABLE' THEN 'NotApplicable'
        WHEN 'AVAILABLESECURITYUPDATE' THEN 'AvailableSecurityUpdate'
        ELSE nullif(i.PatchState, '')
    END AS patch_state,
    rds_time(i.InstalledTime) AS installed_time,
    nullif(i.PatchBaselineId, '') AS baseline_id,
    nullif(i.PatchGroup, '') AS scan_patch_group,
    nullif(i.DocumentName, '') AS document_name,
    nullif(i.DocumentVersion, '') AS document_version,
    rds_cve_ids(i.CVEIds) AS cve_ids,
    t.team,
    t.environment,
    t.patch_group,
    coalesce(t.tags, MAP {}) AS tags,
    n.platform_type,
    n.platform_name
FROM items_raw AS i
LEFT JOIN node_tags AS t ON t.instance_id = i.resourceId
LEFT JOIN node_info AS n ON n.instance_id = i.resourceId
WHERE i.ComplianceType = 'Patch'
