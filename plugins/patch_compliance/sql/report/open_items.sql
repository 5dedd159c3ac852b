-- Items still open on the report snapshot: per team and patch severity, the (instance, patch id)
-- pairs Missing or Failed there, for the population (as missing_critical_patches.csv, any severity).
-- A patch id with several rows (package versions) counts once, with its lowest-sorting severity.
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order: report_date (DATE).
WITH params AS (
    SELECT CAST(? AS DATE) AS report_date
),
population AS (
    SELECT i.account_id, i.region, i.instance_id, COALESCE(NULLIF(TRIM(BOTH ' ' FROM i.team), ''), '(untagged)') AS team
    FROM instances AS i
    CROSS JOIN params AS p
    WHERE i.snapshot_date = p.report_date
      AND i.in_population
),
open_items AS (
    SELECT
        c.account_id,
        c.region,
        c.instance_id,
        c.patch_id,
        MIN(c.classification) AS classification,
        MIN(c.patch_severity) AS patch_severity
    FROM patch_compliance AS c
    CROSS JOIN params AS p
    WHERE c.snapshot_date = p.report_date
      AND c.patch_state IN ('Missing', 'Failed')
    GROUP BY c.account_id, c.region, c.instance_id, c.patch_id
)
SELECT
    pop.team,
    COALESCE(NULLIF(o.patch_severity, ''), '(none)') AS patch_severity,
    CAST(COUNT(*) AS BIGINT) AS open_items
FROM open_items AS o
JOIN population AS pop
  ON pop.account_id = o.account_id
 AND pop.region = o.region
 AND pop.instance_id = o.instance_id
GROUP BY pop.team, COALESCE(NULLIF(o.patch_severity, ''), '(none)')
ORDER BY pop.team, patch_severity
