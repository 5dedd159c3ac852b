-- Per-instance status on the report snapshot: the population (instances not Terminated) plus
-- EC2 instances in ec2_inventory, not terminated, with no SSM row that day: UNMANAGED, or STOPPED
-- when EC2 says stopped/stopping. instance_status is the node's SSM InstanceStatus (Active,
-- ConnectionLost, Stopped); patch_status what a STOPPED node's patch data last showed.
-- last_capture_time: the newest patch data capture, else the instance information's (NO_DATA nodes).
-- quarantined_lines: the node's lines that could not be ingested (such a node is never COMPLIANT).
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order: report_date (DATE).
WITH params AS (
    SELECT CAST(? AS DATE) AS report_date
),
managed AS (
    SELECT
        i.snapshot_date,
        i.account_id,
        i.region,
        i.instance_id,
        COALESCE(NULLIF(TRIM(BOTH ' ' FROM i.team), ''), '(untagged)') AS team,
        COALESCE(NULLIF(TRIM(BOTH ' ' FROM i.environment), ''), '(untagged)') AS environment,
        COALESCE(NULLIF(i.patch_group, ''), NULLIF(i.scan_patch_group, ''), '') AS patch_group,
        COALESCE(i.baseline_id, '') AS baseline_id,
        COALESCE(i.platform_type, '') AS platform,
        i.compliance_status AS status,
        COALESCE(i.last_capture_time, i.info_capture_time) AS last_capture_time,
        i.non_compliant_items,
        i.quarantined_lines,
        COALESCE(i.instance_status, '') AS instance_status,
        i.patch_status
    FROM instances AS i
    CROSS JOIN params AS p
    WHERE i.snapshot_date = p.report_date
      AND i.in_population
),
unmanaged AS (
    SELECT
        e.snapshot_date,
        e.account_id,
        e.region,
        e.instance_id,
        COALESCE(NULLIF(TRIM(BOTH ' ' FROM e.team), ''), '(untagged)') AS team,
        COALESCE(NULLIF(TRIM(BOTH ' ' FROM e.environment), ''), '(untagged)') AS environment,
        COALESCE(e.patch_group, '') AS patch_group,
        '' AS baseline_id,
        COALESCE(e.platform, '') AS platform,
        CASE WHEN LOWER(COALESCE(e.state, '')) IN ('stopped', 'stopping') THEN 'STOPPED' ELSE 'UNMANAGED' END
            AS status,
        CAST(NULL AS TIMESTAMP) AS last_capture_time,
        CAST(NULL AS BIGINT) AS non_compliant_items,
        CAST(NULL AS BIGINT) AS quarantined_lines,
        '' AS instance_status,
        CAST(NULL AS VARCHAR) AS patch_status
    FROM ec2_inventory AS e
    CROSS JOIN params AS p
    WHERE e.snapshot_date = p.report_date
      AND LOWER(COALESCE(e.state, '')) <> 'terminated'
      AND NOT EXISTS (
          SELECT 1
          FROM instances AS i
          WHERE i.snapshot_date = p.report_date
            AND i.account_id = e.account_id
            AND i.region = e.region
            AND i.instance_id = e.instance_id
      )
)
SELECT * FROM managed
UNION ALL
SELECT * FROM unmanaged
ORDER BY account_id, region, instance_id
