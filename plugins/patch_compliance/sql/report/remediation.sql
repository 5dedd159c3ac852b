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
-- How: states flags each item (a number per account, region, instance and patch id) per snapshot
-- missing or installed; one sort per item by snapshot (LAG/LEAD) keeps its turns, the snapshots
-- that matter: a missing snapshot that starts or ends a run
-- (the snapshot before, or after, is not missing or there is none) and an installed snapshot whose
-- previous one is not installed. An installed snapshot is a remediation exactly when the turn before
-- it ends a run: only "other" snapshots lie between them, so its latest earlier missing snapshot is
-- that run's end and comes after its latest earlier installed one. The run starts at that turn, or at
-- the turn before it when the run is longer. Only the turns' rows are read back for titles,
-- classifications, severities, teams and environments. An item's snapshots before its first missing
-- one change nothing and are not read.
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order:
--   report_date (DATE), critical_classifications (comma-separated), critical_severities (comma-separated).
WITH params AS (
    SELECT
        CAST(? AS DATE) AS report_date,
        SPLIT(CAST(? AS VARCHAR), ',') AS critical_classifications,
        SPLIT(CAST(? AS VARCHAR), ',') AS critical_severities
),
ever_missing AS (
    -- item numbers each (account, region, instance, patch id) so that the steps below group, sort
    -- and join by one integer, not four strings; by the key's order, so that every evaluation of this
    -- CTE numbers alike (Trino evaluates it once per reference of history).
    SELECT
        c.account_id,
        c.region,
        c.instance_id,
        c.patch_id,
        MIN(c.snapshot_date) AS first_missing,
        ROW_NUMBER() OVER (ORDER BY c.account_id, c.region, c.instance_id, c.patch_id) AS item
    FROM patch_compliance AS c
    CROSS JOIN params AS p
    WHERE c.snapshot_date <= p.report_date
      AND c.patch_state IN ('Missing', 'Failed')
    GROUP BY c.account_id, c.region, c.instance_id, c.patch_id
),
history AS (
    SELECT
        k.item,
        k.patch_id,
        h.snapshot_date,
        h.patch_state,
        h.title,
        h.classification,
        h.patch_severity,
        h.team,
        h.environment
    FROM patch_compliance AS h
    CROSS JOIN params AS p
    JOIN ever_missing AS k
      ON k.account_id = h.account_id
     AND k.region = h.region
     AND k.instance_id = h.instance_id
     AND k.patch_id = h.patch_id
     AND h.snapshot_date >= k.first_missing
    WHERE h.snapshot_date <= p.report_date
),
states AS (
    SELECT
        h.item,
        h.snapshot_date,
        COUNT_IF(h.patch_state IN ('Missing', 'Failed')) > 0 AS is_missing,
        COUNT_IF(h.patch_state IN ('Missing', 'Failed')) = 0
            AND COUNT_IF(h.patch_state IN ('Installed', 'InstalledOther')) > 0 AS is_installed
    FROM history AS h
    GROUP BY h.item, h.snapshot_date
),
neighbours AS (
    SELECT
        s.*,
        LAG(s.is_missing) OVER (PARTITION BY s.item ORDER BY s.snapshot_date) AS previous_missing,
        LAG(s.is_installed) OVER (PARTITION BY s.item ORDER BY s.snapshot_date) AS previous_installed,
        LEAD(s.is_missing) OVER (PARTITION BY s.item ORDER BY s.snapshot_date) AS next_missing
    FROM states AS s
),
turns AS (
    SELECT
        n.item,
        n.snapshot_date,
        n.is_missing,
        n.is_installed,
        NOT COALESCE(n.previous_missing, FALSE) AS run_start,
        MIN(h.patch_id) AS patch_id,
        MIN(CASE WHEN h.patch_state IN ('Missing', 'Failed') THEN h.title END) AS missing_title,
        MIN(CASE WHEN h.patch_state IN ('Missing', 'Failed') THEN h.classification END) AS classification,
        MIN(CASE WHEN h.patch_state IN ('Missing', 'Failed') THEN h.patch_severity END) AS patch_severity,
        MIN(COALESCE(NULLIF(TRIM(BOTH ' ' FROM h.team), ''), '(untagged)')) AS team,
        MIN(COALESCE(NULLIF(TRIM(BOTH ' ' FROM h.environment), ''), '(untagged)')) AS environment
    FROM neighbours AS n
    JOIN history AS h
      ON h.item = n.item
     AND h.snapshot_date = n.snapshot_date
    WHERE (n.is_missing AND NOT (COALESCE(n.previous_missing, FALSE) AND COALESCE(n.next_missing, FALSE)))
       OR (n.is_installed AND NOT COALESCE(n.previous_installed, FALSE))
    GROUP BY 1, 2, 3, 4, 5
),
paired AS (
    -- Before a remediation: its run's end (1 turn back) and, when the run is longer, its start (2 back).
    SELECT
        t.*,
        LAG(t.is_missing, 1) OVER (PARTITION BY t.item ORDER BY t.snapshot_date) AS after_run_end,
        LAG(t.run_start, 1) OVER (PARTITION BY t.item ORDER BY t.snapshot_date) AS end_starts_run,
        LAG(t.snapshot_date, 1) OVER (PARTITION BY t.item ORDER BY t.snapshot_date) AS end_date,
        LAG(t.snapshot_date, 2) OVER (PARTITION BY t.item ORDER BY t.snapshot_date) AS start_date,
        LAG(t.missing_title, 1) OVER (PARTITION BY t.item ORDER BY t.snapshot_date) AS end_title,
        LAG(t.missing_title, 2) OVER (PARTITION BY t.item ORDER BY t.snapshot_date) AS start_title,
        LAG(t.classification, 1) OVER (PARTITION BY t.item ORDER BY t.snapshot_date) AS end_classification,
        LAG(t.patch_severity, 1) OVER (PARTITION BY t.item ORDER BY t.snapshot_date) AS end_severity
    FROM turns AS t
),
events AS (
    -- NULLIF: an empty title, classification or severity reads as none.
    SELECT
        e.patch_id,
        e.team,
        e.environment,
        e.snapshot_date AS remediated_on,
        CASE WHEN e.end_starts_run THEN e.end_date ELSE e.start_date END AS first_seen_missing,
        e.end_date AS last_seen_missing,
        NULLIF(CASE WHEN e.end_starts_run THEN e.end_title ELSE e.start_title END, '') AS title,
        NULLIF(e.end_classification, '') AS classification,
        NULLIF(e.end_severity, '') AS patch_severity
    FROM paired AS e
    WHERE e.is_installed
      AND e.after_run_end
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
