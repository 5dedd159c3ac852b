-- Compliance status per node, per the report definitions (DESIGN.md):
--   NO_DATA       no patch items (NotApplicable items ignored)
--   STALE         last capture older than the freshness threshold: never counts as compliant
--   NON_COMPLIANT any item NON_COMPLIANT
--   COMPLIANT     items, none NON_COMPLIANT
-- Terminated nodes keep their status but leave the population (in_population = false).
SELECT
    * EXCLUDE (summary_status),
    summary_status,
    CASE
        WHEN patch_items = 0 THEN 'NO_DATA'
        WHEN last_capture_time IS NULL OR last_capture_time < $stale_before THEN 'STALE'
        WHEN non_compliant_items > 0 THEN 'NON_COMPLIANT'
        ELSE 'COMPLIANT'
    END AS compliance_status,
    last_capture_time IS NULL OR last_capture_time < $stale_before AS is_stale,
    coalesce(instance_status, '') <> 'Terminated' AS in_population,
    $reference_time AS reference_time
FROM instances_all
