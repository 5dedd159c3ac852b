-- Critical items Missing or Failed on the report snapshot, for the population, with their age and
-- the instance's status (a STOPPED host's missing patches are exposed the day it starts).
-- first_seen_missing: over the snapshots <= report_date in which the instance has an item with
-- that patch_id, the earliest date S such that the item is Missing or Failed in every one of them
-- from S through report_date (snapshots where the item is absent do not break the run).
-- release_date: from the latest patch_catalog snapshot <= report_date, when known: the catalog row
-- with the item's patch_id and title (a Linux package name has one row per released version), else
-- the patch_id's release date when the catalog has only one for it.
-- age_is_lower_bound: the age is by first_seen_missing and that first sighting is the lake's first
-- snapshot (<= report_date): the patch may have been missing long before the lake began.
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order:
--   report_date (DATE), critical_classifications (comma-separated), critical_severities (comma-separated).
WITH params AS (
    SELECT
        CAST(? AS DATE) AS report_date,
        SPLIT(CAST(? AS VARCHAR), ',') AS critical_classifications,
        SPLIT(CAST(? AS VARCHAR), ',') AS critical_severities
),
population AS (
    SELECT
        i.account_id,
        i.region,
        i.instance_id,
        COALESCE(NULLIF(TRIM(BOTH ' ' FROM i.team), ''), '(untagged)') AS team,
        COALESCE(NULLIF(TRIM(BOTH ' ' FROM i.environment), ''), '(untagged)') AS environment,
        i.compliance_status AS status
    FROM instances AS i
    CROSS JOIN params AS p
    WHERE i.snapshot_date = p.report_date
      AND i.in_population
),
current_items AS (
    SELECT
        c.account_id,
        c.region,
        c.instance_id,
        c.patch_id,
        MIN(c.title) AS title,
        MIN(c.classification) AS classification,
        MIN(c.patch_severity) AS patch_severity,
        MIN(c.patch_state) AS patch_state,
        ARRAY_JOIN(ARRAY_SORT(ARRAY_DISTINCT(FLATTEN(ARRAY_AGG(COALESCE(c.cve_ids, ARRAY[]))))), ' ')
            AS cve_ids
    FROM patch_compliance AS c
    CROSS JOIN params AS p
    WHERE c.snapshot_date = p.report_date
      AND c.patch_state IN ('Missing', 'Failed')
      AND CONTAINS(p.critical_classifications, c.classification)
      AND CONTAINS(p.critical_severities, c.patch_severity)
    GROUP BY c.account_id, c.region, c.instance_id, c.patch_id
),
history AS (
    SELECT
        h.account_id,
        h.region,
        h.instance_id,
        h.patch_id,
        h.snapshot_date,
        -- Several rows of one patch_id in a snapshot (package versions): Missing/Failed if any is.
        MIN(CASE WHEN h.patch_state IN ('Missing', 'Failed') THEN 0 ELSE 1 END) AS breaks_run
    FROM patch_compliance AS h
    CROSS JOIN params AS p
    JOIN current_items AS k
      ON k.account_id = h.account_id
     AND k.region = h.region
     AND k.instance_id = h.instance_id
     AND k.patch_id = h.patch_id
    WHERE h.snapshot_date <= p.report_date
    GROUP BY h.account_id, h.region, h.instance_id, h.patch_id, h.snapshot_date
),
last_break AS (
    SELECT
        account_id,
        region,
        instance_id,
        patch_id,
        MAX(CASE WHEN breaks_run = 1 THEN snapshot_date END) AS last_break_date
    FROM history
    GROUP BY account_id, region, instance_id, patch_id
),
first_missing AS (
    SELECT
        h.account_id,
        h.region,
        h.instance_id,
        h.patch_id,
        MIN(h.snapshot_date) AS first_seen_missing
    FROM history AS h
    JOIN last_break AS b
      ON b.account_id = h.account_id
     AND b.region = h.region
     AND b.instance_id = h.instance_id
     AND b.patch_id = h.patch_id
    WHERE h.breaks_run = 0
      AND (b.last_break_date IS NULL OR h.snapshot_date > b.last_break_date)
    GROUP BY h.account_id, h.region, h.instance_id, h.patch_id
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
current_release AS (
    SELECT
        k.account_id,
        k.region,
        k.instance_id,
        k.patch_id,
        COALESCE(t.release_date, u.release_date) AS release_date
    FROM current_items AS k
    LEFT JOIN catalog_by_title AS t
      ON t.patch_id = k.patch_id
     AND t.title = k.title
    LEFT JOIN catalog_by_patch AS u
      ON u.patch_id = k.patch_id
)
SELECT
    p.report_date AS snapshot_date,
    k.account_id,
    k.region,
    k.instance_id,
    pop.team,
    pop.environment,
    k.patch_id,
    k.classification,
    k.patch_severity,
    k.patch_state,
    k.cve_ids,
    f.first_seen_missing,
    cat.release_date,
    DATE_DIFF('day', COALESCE(cat.release_date, f.first_seen_missing), p.report_date) AS age_days,
    CASE WHEN cat.release_date IS NOT NULL THEN 'release_date' ELSE 'first_seen_missing' END AS age_basis,
    (cat.release_date IS NULL AND f.first_seen_missing = ls.first_snapshot) AS age_is_lower_bound,
    pop.status
FROM current_items AS k
CROSS JOIN params AS p
CROSS JOIN lake_start AS ls
JOIN population AS pop
  ON pop.account_id = k.account_id
 AND pop.region = k.region
 AND pop.instance_id = k.instance_id
JOIN first_missing AS f
  ON f.account_id = k.account_id
 AND f.region = k.region
 AND f.instance_id = k.instance_id
 AND f.patch_id = k.patch_id
JOIN current_release AS cat
  ON cat.account_id = k.account_id
 AND cat.region = k.region
 AND cat.instance_id = k.instance_id
 AND cat.patch_id = k.patch_id
ORDER BY k.account_id, k.region, k.instance_id, k.patch_id
