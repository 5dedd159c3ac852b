-- Evidence for one CVE: every (instance, patch) ever affected, when it was missing and when fixed.
-- CVE ids appear only on Missing/Failed items, so the CVE -> patch mapping comes from history
-- (items whose cve_ids contain the CVE, on that instance) plus the patch catalog where one exists
-- (patch versions, by patch_id and title, it maps to the CVE: seen Missing/Failed on the instance,
-- or seen installed there, which finds fixes installed before the lake began).
--   first/last_seen_missing  first and last snapshot with the item Missing or Failed (empty if never)
--   first_seen_installed     first snapshot after last_seen_missing with an Installed* state (never
--                            missing: the first with a version the catalog maps to the CVE installed)
--   installed_time           the item's InstalledTime in that snapshot
--   current_state            the item's state in the latest snapshot where the instance has it
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order: cve_id (VARCHAR, validated).
WITH params AS (
    SELECT CAST(? AS VARCHAR) AS cve_id
),
catalog_patches AS (
    SELECT DISTINCT c.patch_id, c.title
    FROM patch_catalog AS c
    CROSS JOIN params AS p
    WHERE CONTAINS(c.cve_ids, p.cve_id)
),
affected AS (
    SELECT DISTINCT h.account_id, h.region, h.instance_id, h.patch_id
    FROM patch_compliance AS h
    CROSS JOIN params AS p
    WHERE (h.patch_state IN ('Missing', 'Failed') AND CONTAINS(h.cve_ids, p.cve_id))
       OR ((h.patch_state IN ('Missing', 'Failed') OR h.patch_state LIKE 'Installed%')
           AND EXISTS (
               SELECT 1 FROM catalog_patches AS cp
               WHERE cp.patch_id = h.patch_id AND cp.title = h.title
           ))
),
history AS (
    SELECT
        h.account_id,
        h.region,
        h.instance_id,
        h.patch_id,
        h.snapshot_date,
        MIN(h.patch_state) AS patch_state,
        MAX(h.installed_time) AS installed_time,
        MIN(h.team) AS team,
        MIN(h.environment) AS environment,
        MAX(CASE WHEN cp.patch_id IS NOT NULL AND h.patch_state LIKE 'Installed%' THEN 1 ELSE 0 END)
            AS fix_installed
    FROM patch_compliance AS h
    JOIN affected AS a
      ON a.account_id = h.account_id
     AND a.region = h.region
     AND a.instance_id = h.instance_id
     AND a.patch_id = h.patch_id
    LEFT JOIN catalog_patches AS cp
      ON cp.patch_id = h.patch_id
     AND cp.title = h.title
    GROUP BY h.account_id, h.region, h.instance_id, h.patch_id, h.snapshot_date
),
spans AS (
    SELECT
        account_id,
        region,
        instance_id,
        patch_id,
        MIN(CASE WHEN patch_state IN ('Missing', 'Failed') THEN snapshot_date END) AS first_seen_missing,
        MAX(CASE WHEN patch_state IN ('Missing', 'Failed') THEN snapshot_date END) AS last_seen_missing,
        MAX(snapshot_date) AS last_seen
    FROM history
    GROUP BY account_id, region, instance_id, patch_id
),
installed AS (
    SELECT
        h.account_id,
        h.region,
        h.instance_id,
        h.patch_id,
        MIN(h.snapshot_date) AS first_seen_installed
    FROM history AS h
    JOIN spans AS s
      ON s.account_id = h.account_id
     AND s.region = h.region
     AND s.instance_id = h.instance_id
     AND s.patch_id = h.patch_id
    WHERE h.patch_state LIKE 'Installed%'
      AND ((s.last_seen_missing IS NOT NULL AND h.snapshot_date > s.last_seen_missing)
           OR (s.last_seen_missing IS NULL AND h.fix_installed = 1))
    GROUP BY h.account_id, h.region, h.instance_id, h.patch_id
)
SELECT
    p.cve_id,
    s.account_id,
    s.region,
    s.instance_id,
    COALESCE(NULLIF(TRIM(BOTH ' ' FROM cur.team), ''), '(untagged)') AS team,
    COALESCE(NULLIF(TRIM(BOTH ' ' FROM cur.environment), ''), '(untagged)') AS environment,
    s.patch_id,
    s.first_seen_missing,
    s.last_seen_missing,
    fix.installed_time,
    i.first_seen_installed,
    cur.patch_state AS current_state
FROM spans AS s
CROSS JOIN params AS p
JOIN history AS cur
  ON cur.account_id = s.account_id
 AND cur.region = s.region
 AND cur.instance_id = s.instance_id
 AND cur.patch_id = s.patch_id
 AND cur.snapshot_date = s.last_seen
LEFT JOIN installed AS i
  ON i.account_id = s.account_id
 AND i.region = s.region
 AND i.instance_id = s.instance_id
 AND i.patch_id = s.patch_id
LEFT JOIN history AS fix
  ON fix.account_id = s.account_id
 AND fix.region = s.region
 AND fix.instance_id = s.instance_id
 AND fix.patch_id = s.patch_id
 AND fix.snapshot_date = i.first_seen_installed
ORDER BY s.account_id, s.region, s.instance_id, s.patch_id
