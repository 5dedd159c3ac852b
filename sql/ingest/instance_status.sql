-- Compliance status per node, per the report definitions (DESIGN.md):
--   NO_DATA       no patch items (NotApplicable items ignored)
--   STALE         last capture older than the freshness threshold: never counts as compliant
--   NON_COMPLIANT any item NON_COMPLIANT, or any of the node's lines was quarantined (what was lost
--                 could have been non-compliant: such a node is never COMPLIANT; quarantined_lines says why)
--   COMPLIANT     items, none NON_COMPLIANT, nothing quarantined
-- Terminated nodes keep their status but leave the population (in_population = false).
-- capture_in_future: the node's capture is later than the reference plus the tolerance (a clock ahead).
SELECT
    * EXCLUDE (summary_status, quarantined_lines, quarantined_item_lines),
    summary_status,
    CASE
        WHEN patch_items = 0 THEN 'NO_DATA'
        WHEN last_capture_time IS NULL OR last_capture_time < $stale_before THEN 'STALE'
        WHEN non_compliant_items > 0 OR quarantined_lines > 0 THEN 'NON_COMPLIANT'
        ELSE 'COMPLIANT'
    END AS compliance_status,
    last_capture_time IS NULL OR last_capture_time < $stale_before AS is_stale,
    coalesce(instance_status, '') <> 'Terminated' AS in_population,
    $reference_time AS reference_time,
    quarantined_lines,
    quarantined_item_lines,
    coalesce(last_capture_time > $future_after, false) AS capture_in_future
FROM instances_all
