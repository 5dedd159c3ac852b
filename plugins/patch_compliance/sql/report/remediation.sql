-- Every remediation in the lake's history up to the report date: a (host, patch id) whose item went
-- from Missing/Failed to installed. Per snapshot an item is "missing" if any of its rows is Missing or
-- Failed, "installed" if none is and one is Installed or InstalledOther, "other" otherwise
-- (InstalledPendingReboot, InstalledRejected, NotApplicable). A remediation is an installed snapshot
-- whose latest earlier missing snapshot comes after its latest earlier installed one (snapshots in
-- "other" in between, such as a pending reboot, do not count as installed); absent snapshots are skipped.
-- The run it ends is the unbroken run of missing snapshots ending at that latest missing snapshot
-- (any other state breaks a run, as for first_seen_missing).
--   remediated_on: the installed snapshot; first_seen_missing / last_seen_missing: the run's bounds.
--   title: the item's title at the run's start (the version first seen missing); classification and
--   patch_severity: at the run's end (the exposure just before the fix); team and environment: on remediated_on.
--   release_date: from the latest patch_catalog snapshot <= report_date, by patch id and that title,
--   else the patch id's only release date (as in missing_critical_patches.sql).
--   days_to_remediate = remediated_on - release_date when known, else - first_seen_missing;
--   days_is_lower_bound: by first_seen_missing and that is the lake's first snapshot.
-- The answer is their histogram, not the events: one row per (year and month of remediated_on, team,
-- severity, days_to_remediate) with how many remediations it counts, how many of them are lower
-- bounds and how many are critical, so a month of a churning fleet is a few thousand rows, not one per
-- remediation (remediation.py takes exact medians and percentiles from it).
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order:
--   report_date (DATE), critical_classifications (comma-separated), critical_severities (comma-separated).
WITH params AS (
    SELECT
        CAST(? AS DATE) AS report_date,
        SPLIT(CAST(? AS VARCHAR), ',') AS critical_classifications,
        SPLIT(CAST(? AS VARCHAR), ',') AS critical_severities
),
ever_missing AS (
    SELECT DISTINCT c.account_id, c.region, c.instance_id, c.patch_id
    FROM patch_compliance AS c
    CROSS JOIN params AS p
    WHERE c.snapshot_date <= p.report_date
      AND c.patch_state IN ('Missing', 'Failed')
),
states AS (
    SELECT
        h.account_id,
        h.region,
        h.instance_id,
        h.patch_id,
        h.snapshot_date,
        CASE
            WHEN COUNT_IF(h.patch_state IN ('Missing', 'Failed')) > 0 THEN 'missing'
            WHEN COUNT_IF(h.patch_state IN ('Installed', 'InstalledOther')) > 0 THEN 'installed'
            ELSE 'other'
        END AS state,
        MIN(CASE WHEN h.patch_state IN ('Missing', 'Failed') THEN h.title END) AS missing_title,
        MIN(CASE WHEN h.patch_state IN ('Missing', 'Failed') THEN h.classification END) AS classification,
        MIN(CASE WHEN h.patch_state IN ('Missing', 'Failed') THEN h.patch_severity END) AS patch_severity,
        MIN(COALESCE(NULLIF(TRIM(BOTH ' ' FROM h.team), ''), '(untagged)')) AS team,
        MIN(COALESCE(NULLIF(TRIM(BOTH ' ' FROM h.environment), ''), '(untagged)')) AS environment
    FROM patch_compliance AS h
    CROSS JOIN params AS p
    JOIN ever_missing AS k
      ON k.account_id = h.account_id
     AND k.region = h.region
     AND k.instance_id = h.instance_id
     AND k.patch_id = h.patch_id
    WHERE h.snapshot_date <= p.report_date
    GROUP BY h.account_id, h.region, h.instance_id, h.patch_id, h.snapshot_date
),
ordered AS (
    SELECT
        s.*,
        COUNT(CASE WHEN s.state = 'missing' THEN NULL ELSE 1 END) OVER (
            PARTITION BY s.account_id, s.region, s.instance_id, s.patch_id ORDER BY s.snapshot_date
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run_number,
        MAX(CASE WHEN s.state = 'missing' THEN s.snapshot_date END) OVER (
            PARTITION BY s.account_id, s.region, s.instance_id, s.patch_id ORDER BY s.snapshot_date
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_missing_before,
        MAX(CASE WHEN s.state = 'installed' THEN s.snapshot_date END) OVER (
            PARTITION BY s.account_id, s.region, s.instance_id, s.patch_id ORDER BY s.snapshot_date
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_installed_before
    FROM states AS s
),
runs AS (
    SELECT
        account_id,
        region,
        instance_id,
        patch_id,
        MIN(snapshot_date) AS first_seen_missing,
        MAX(snapshot_date) AS last_seen_missing,
        -- COALESCE/NULLIF: the value of that row even when NULL, on Trino and DuckDB alike.
        NULLIF(MIN_BY(COALESCE(missing_title, ''), snapshot_date), '') AS title,
        NULLIF(MAX_BY(COALESCE(classification, ''), snapshot_date), '') AS classification,
        NULLIF(MAX_BY(COALESCE(patch_severity, ''), snapshot_date), '') AS patch_severity
    FROM ordered
    WHERE state = 'missing'
    GROUP BY account_id, region, instance_id, patch_id, run_number
),
events AS (
    SELECT
        o.account_id,
        o.region,
        o.instance_id,
        o.patch_id,
        o.team,
        o.environment,
        o.snapshot_date AS remediated_on,
        r.first_seen_missing,
        r.last_seen_missing,
        r.title,
        r.classification,
        r.patch_severity
    FROM ordered AS o
    JOIN runs AS r
      ON r.account_id = o.account_id
     AND r.region = o.region
     AND r.instance_id = o.instance_id
     AND r.patch_id = o.patch_id
     AND r.last_seen_missing = o.last_missing_before
    WHERE o.state = 'installed'
      AND (o.last_installed_before IS NULL OR o.last_installed_before < o.last_missing_before)
),
lake_start AS (
    SELECT MIN(s.snapshot_date) AS first_snapshot
    FROM patch_compliance AS s
    CROSS JOIN params AS p
    WHERE s.snapshot_date <= p.report_date
),
catalog_rows AS (
    SELECT c.patch_id, c.title, c.release_date
    FROM patch_catalog AS c
    WHERE c.release_date IS NOT NULL
      AND c.snapshot_date = (
          SELECT MAX(c2.snapshot_date)
          FROM patch_catalog AS c2
          CROSS JOIN params AS p2
          WHERE c2.snapshot_date <= p2.report_date
      )
),
catalog_by_title AS (
    SELECT patch_id, title, MIN(release_date) AS release_date
    FROM catalog_rows
    GROUP BY patch_id, title
),
catalog_by_patch AS (
    SELECT patch_id, MIN(release_date) AS release_date
    FROM catalog_rows
    GROUP BY patch_id
    HAVING COUNT(DISTINCT release_date) = 1
),
dated AS (
    SELECT
        e.*,
        COALESCE(t.release_date, u.release_date) AS release_date
    FROM events AS e
    LEFT JOIN catalog_by_title AS t
      ON t.patch_id = e.patch_id
     AND t.title = e.title
    LEFT JOIN catalog_by_patch AS u
      ON u.patch_id = e.patch_id
)
SELECT
    YEAR(d.remediated_on) AS remediated_year,
    MONTH(d.remediated_on) AS remediated_month,
    d.team,
    COALESCE(NULLIF(d.patch_severity, ''), '(none)') AS patch_severity,
    DATE_DIFF('day', COALESCE(d.release_date, d.first_seen_missing), d.remediated_on) AS days_to_remediate,
    COUNT(*) AS remediations,
    COUNT_IF(d.release_date IS NULL AND d.first_seen_missing = ls.first_snapshot) AS lower_bound_items,
    COUNT_IF(COALESCE(CONTAINS(p.critical_classifications, d.classification)
                      AND CONTAINS(p.critical_severities, d.patch_severity), FALSE)) AS critical_items
FROM dated AS d
CROSS JOIN params AS p
CROSS JOIN lake_start AS ls
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 2, 3, 4, 5
