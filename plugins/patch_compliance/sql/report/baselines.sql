-- Patch baselines in force on the report date: the latest baselines snapshot <= report_date.
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order: report_date (DATE).
WITH params AS (
    SELECT CAST(? AS DATE) AS report_date
)
SELECT
    b.snapshot_date,
    b.account_id,
    b.region,
    b.baseline_id,
    COALESCE(b.name, '') AS name,
    COALESCE(b.operating_system, '') AS operating_system,
    ARRAY_JOIN(COALESCE(b.patch_groups, ARRAY[]), ' ') AS patch_groups,
    COALESCE(b.is_default, FALSE) AS is_default,
    COALESCE(b.approval_rules, '') AS approval_rules,
    COALESCE(b.rejected_patches_action, '') AS rejected_patches_action,
    COALESCE(b.declared_name, '') AS declared_name,
    COALESCE(b.drift, '') AS drift,
    COALESCE(b.drift_details, '') AS drift_details
FROM baselines AS b
WHERE b.snapshot_date = (
    SELECT MAX(b2.snapshot_date)
    FROM baselines AS b2
    CROSS JOIN params AS p
    WHERE b2.snapshot_date <= p.report_date
)
ORDER BY b.account_id, b.region, b.baseline_id
