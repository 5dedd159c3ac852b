-- Compliance status per node, per the report definitions (DESIGN.md); first match wins:
--   STOPPED       InstanceStatus Stopped: reported with its last known state (patch_status), never
--                 counted as compliant or non-compliant
--   NO_DATA       no patch items (NotApplicable items ignored) and no AWS:PatchSummary counting
--                 non-compliant patches
--   STALE         last patch-data capture older than the freshness threshold: never counts as compliant
--   NON_COMPLIANT any item NON_COMPLIANT; or, with no item line at all, the summary counts Missing / Failed /
--                 InstalledPendingReboot / InstalledRejected patches (status_basis = summary); or any
--                 of the node's lines was quarantined (what was lost could have been non-compliant:
--                 such a node is never COMPLIANT; quarantined_lines says why)
--   COMPLIANT     items, none NON_COMPLIANT, nothing quarantined
-- patch_status is the same without the STOPPED rule. Terminated nodes keep their status but leave the
-- population (in_population = false). capture_in_future: the node's capture is later than the
-- reference plus the tolerance (a clock ahead).
WITH judged AS (
    SELECT
        *,
        last_capture_time IS NULL OR last_capture_time < $stale_before AS stale
    FROM instances_all
),
classified AS (
    SELECT
        *,
        CASE
            WHEN patch_items = 0 AND NOT summary_only THEN 'NO_DATA'
            WHEN stale THEN 'STALE'
            WHEN non_compliant_items > 0 OR summary_only OR quarantined_lines > 0 THEN 'NON_COMPLIANT'
            ELSE 'COMPLIANT'
        END AS patch_status
    FROM judged
)
SELECT
    * EXCLUDE (summary_status, quarantined_lines, quarantined_item_lines, capture_basis,
               summary_non_compliant_count, summary_items_mismatch, invalid_timestamps, stale,
               summary_only, patch_status),
    summary_status,
    CASE WHEN lower(coalesce(instance_status, '')) = 'stopped' THEN 'STOPPED' ELSE patch_status END
        AS compliance_status,
    stale AS is_stale,
    lower(coalesce(instance_status, '')) <> 'terminated' AS in_population,
    $reference_time AS reference_time,
    quarantined_lines,
    quarantined_item_lines,
    coalesce(last_capture_time > $future_after, false) AS capture_in_future,
    capture_basis,
    CASE WHEN patch_items > 0 THEN 'items' WHEN summary_only THEN 'summary' END AS status_basis,
    patch_status,
    summary_non_compliant_count,
    summary_items_mismatch,
    invalid_timestamps
FROM classified
