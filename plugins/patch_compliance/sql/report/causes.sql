-- Why each host is not compliant on the report snapshot: one cause per NON_COMPLIANT, STALE,
-- NO_DATA and UNMANAGED host, the first that matches in this order (docs/report.md has an example of each):
--   no_agent                  UNMANAGED: an EC2 instance with no Systems Manager data
--   stale_agent               STALE, or InstanceStatus ConnectionLost
--   no_patch_group            no PatchGroup / Patch Group tag: the OS default baseline applies
--   unknown_patch_group       the tag's value is not a patch group the policy declares (when it declares any)
--   baseline_drift            the baseline of the host's last scan is recorded (latest baselines snapshot <=
--                             the report date, same account/Region) as drifted from, or undeclared in, the policy
--   not_in_window             no declared Install window targets the host's tags (when any is declared):
--                             a window targets a host when every target tag key has one of its values
--   install_failed            items in Failed (the summary's FailedCount for a node without item lines)
--   pending_reboot            the only non-compliant items are InstalledPendingReboot
--   not_patched_since_window  an item Missing now was Missing or Failed (same patch id and title) in a
--                             snapshot dated before the start of the last run of a targeting window that
--                             ended before the host's last capture: that run did not install it
--   awaiting_window           items Missing, none of them missing before that run (or no run yet)
--   other                     none of the above (InstalledRejected, lines lost to quarantine, ...)
-- The policy facts come as bound text (tag keys and values, group and window names cannot hold "," or "|").
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order:
--   report_date (DATE), declared patch groups ("g1,g2"), Install window targets ("window|key|value,..."),
--   window runs ("window|start|end,...", UTC 'YYYY-MM-DD HH:MM:SS').
WITH params AS (
    SELECT
        CAST(? AS DATE) AS report_date,
        CAST(? AS VARCHAR) AS declared_groups,
        CAST(? AS VARCHAR) AS window_targets,
        CAST(? AS VARCHAR) AS window_runs
),
policy AS (
    SELECT
        p.report_date,
        SPLIT(p.declared_groups, ',') AS groups,
        p.declared_groups <> '' AS groups_declared,
        p.window_targets <> '' AS windows_declared
    FROM params AS p
),
hosts AS (
    SELECT
        i.account_id,
        i.region,
        i.instance_id,
        i.compliance_status AS status,
        COALESCE(i.instance_status, '') AS instance_status,
        NULLIF(TRIM(BOTH ' ' FROM COALESCE(i.patch_group, '')), '') AS patch_group_tag,
        COALESCE(i.baseline_id, '') AS baseline_id,
        i.tags,
        i.last_capture_time,
        COALESCE(i.failed_count, 0) AS summary_failed,
        COALESCE(i.installed_pending_reboot_count, 0) AS summary_pending_reboot,
        COALESCE(i.missing_count, 0) + COALESCE(i.installed_rejected_count, 0) AS summary_other
    FROM instances AS i
    CROSS JOIN params AS p
    WHERE i.snapshot_date = p.report_date
      AND i.in_population
      AND i.compliance_status IN ('NON_COMPLIANT', 'STALE', 'NO_DATA')
),
item_states AS (
    SELECT
        c.account_id,
        c.region,
        c.instance_id,
        COUNT_IF(c.patch_state = 'Failed') AS failed,
        COUNT_IF(c.patch_state = 'InstalledPendingReboot') AS pending_reboot,
        COUNT_IF(c.patch_state IN ('Missing', 'InstalledRejected')) AS other_non_compliant,
        COUNT_IF(c.patch_state = 'Missing') AS missing
    FROM patch_compliance AS c
    CROSS JOIN params AS p
    WHERE c.snapshot_date = p.report_date
    GROUP BY c.account_id, c.region, c.instance_id
),
drifted AS (
    SELECT DISTINCT b.account_id, b.region, b.baseline_id
    FROM baselines AS b
    WHERE b.drift IN ('drifted', 'undeclared')
      AND COALESCE(b.baseline_id, '') <> ''
      AND b.snapshot_date = (
          SELECT MAX(b2.snapshot_date)
          FROM baselines AS b2
          CROSS JOIN params AS p
          WHERE b2.snapshot_date <= p.report_date
      )
),
targets AS (
    SELECT
        SPLIT_PART(t.target, '|', 1) AS window_name,
        SPLIT_PART(t.target, '|', 2) AS tag_key,
        SPLIT_PART(t.target, '|', 3) AS tag_value
    FROM params AS p
    CROSS JOIN UNNEST(SPLIT(p.window_targets, ',')) AS t(target)
    WHERE t.target <> ''
),
window_keys AS (
    SELECT window_name, COUNT(DISTINCT tag_key) AS target_keys
    FROM targets
    GROUP BY window_name
),
host_windows AS (
    SELECT h.account_id, h.region, h.instance_id, t.window_name
    FROM hosts AS h
    JOIN targets AS t
      ON ELEMENT_AT(h.tags, t.tag_key) = t.tag_value
    JOIN window_keys AS k
      ON k.window_name = t.window_name
    GROUP BY h.account_id, h.region, h.instance_id, t.window_name, k.target_keys
    HAVING COUNT(DISTINCT t.tag_key) = k.target_keys
),
window_runs AS (
    SELECT
        SPLIT_PART(r.run, '|', 1) AS window_name,
        CAST(SPLIT_PART(r.run, '|', 2) AS TIMESTAMP) AS run_start,
        CAST(SPLIT_PART(r.run, '|', 3) AS TIMESTAMP) AS run_end
    FROM params AS p
    CROSS JOIN UNNEST(SPLIT(p.window_runs, ',')) AS r(run)
    WHERE r.run <> ''
),
last_run AS (
    SELECT w.account_id, w.region, w.instance_id, MAX(r.run_start) AS run_start
    FROM host_windows AS w
    JOIN hosts AS h
      ON h.account_id = w.account_id
     AND h.region = w.region
     AND h.instance_id = w.instance_id
    JOIN window_runs AS r
      ON r.window_name = w.window_name
    WHERE r.run_end <= h.last_capture_time
    GROUP BY w.account_id, w.region, w.instance_id
),
missed_by_window AS (
    SELECT DISTINCT k.account_id, k.region, k.instance_id
    FROM patch_compliance AS k
    CROSS JOIN params AS p
    JOIN last_run AS l
      ON l.account_id = k.account_id
     AND l.region = k.region
     AND l.instance_id = k.instance_id
    JOIN patch_compliance AS h
      ON h.account_id = k.account_id
     AND h.region = k.region
     AND h.instance_id = k.instance_id
     AND h.patch_id = k.patch_id
     AND COALESCE(h.title, '') = COALESCE(k.title, '')
    WHERE k.snapshot_date = p.report_date
      AND k.patch_state = 'Missing'
      AND h.snapshot_date < CAST(l.run_start AS DATE)
      AND h.patch_state IN ('Missing', 'Failed')
),
managed AS (
    SELECT
        h.account_id,
        h.region,
        h.instance_id,
        CASE
            WHEN h.status = 'STALE' OR h.instance_status = 'ConnectionLost' THEN 'stale_agent'
            WHEN h.patch_group_tag IS NULL THEN 'no_patch_group'
            WHEN pol.groups_declared AND NOT CONTAINS(pol.groups, h.patch_group_tag) THEN 'unknown_patch_group'
            WHEN d.baseline_id IS NOT NULL THEN 'baseline_drift'
            WHEN pol.windows_declared AND w.instance_id IS NULL THEN 'not_in_window'
            WHEN COALESCE(s.failed, h.summary_failed) > 0 THEN 'install_failed'
            WHEN COALESCE(s.pending_reboot, h.summary_pending_reboot) > 0
             AND COALESCE(s.other_non_compliant, h.summary_other) = 0 THEN 'pending_reboot'
            WHEN m.instance_id IS NOT NULL THEN 'not_patched_since_window'
            WHEN COALESCE(s.missing, 0) > 0 THEN 'awaiting_window'
            ELSE 'other'
        END AS cause
    FROM hosts AS h
    CROSS JOIN policy AS pol
    LEFT JOIN item_states AS s
      ON s.account_id = h.account_id
     AND s.region = h.region
     AND s.instance_id = h.instance_id
    LEFT JOIN (SELECT DISTINCT account_id, region, instance_id FROM host_windows) AS w
      ON w.account_id = h.account_id
     AND w.region = h.region
     AND w.instance_id = h.instance_id
    LEFT JOIN drifted AS d
      ON d.account_id = h.account_id
     AND d.region = h.region
     AND d.baseline_id = h.baseline_id
    LEFT JOIN missed_by_window AS m
      ON m.account_id = h.account_id
     AND m.region = h.region
     AND m.instance_id = h.instance_id
),
unmanaged AS (
    SELECT e.account_id, e.region, e.instance_id, 'no_agent' AS cause
    FROM ec2_inventory AS e
    CROSS JOIN params AS p
    WHERE e.snapshot_date = p.report_date
      AND LOWER(COALESCE(e.state, '')) NOT IN ('terminated', 'stopped', 'stopping')
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
