-- The patch versions a snapshot's nodes reported, in every state (installed ones too, so the
-- catalog can tell CVE evidence which CVEs an installed version fixed), with the node's platform,
-- which decides the catalog source. One row per (account, Region, platform, patch id, title);
-- `missing` says whether any node had that version Missing or Failed (those are looked up first).
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order: snapshot_date (DATE).
WITH params AS (
    SELECT CAST(? AS DATE) AS snapshot_date
)
SELECT
    c.account_id,
    c.region,
    i.platform_name,
    i.platform_version,
    c.patch_id,
    c.title,
    MAX(CASE WHEN c.patch_state IN ('Missing', 'Failed') THEN 1 ELSE 0 END) = 1 AS missing
FROM patch_compliance AS c
CROSS JOIN params AS p
JOIN instances AS i
  ON i.snapshot_date = c.snapshot_date
 AND i.account_id = c.account_id
 AND i.region = c.region
 AND i.instance_id = c.instance_id
WHERE c.snapshot_date = p.snapshot_date
  AND c.patch_id IS NOT NULL
GROUP BY c.account_id, c.region, i.platform_name, i.platform_version, c.patch_id, c.title
ORDER BY c.account_id, c.region, i.platform_name, i.platform_version, c.patch_id, c.title
