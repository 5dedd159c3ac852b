-- Status counts per snapshot of the month up to the report date and team (the trend charts: the
-- fleet's is the sum over teams), with
-- UNMANAGED (and STOPPED EC2 instances without SSM data) counted from ec2_inventory on the same date
-- where an inventory exists.
-- Dialect: Athena engine v3 (Trino). Bound parameters, in order: month_start (DATE), report_date (DATE).
WITH params AS (
    SELECT CAST(? AS DATE) AS month_start, CAST(? AS DATE) AS report_date
),
statuses AS (
    SELECT i.snapshot_date, COALESCE(NULLIF(TRIM(BOTH ' ' FROM i.team), ''), '(untagged)') AS team, i.compliance_status AS status
    FROM instances AS i
    CROSS JOIN params AS p
    WHERE i.snapshot_date BETWEEN p.month_start AND p.report_date
      AND i.in_population
    UNION ALL
    SELECT e.snapshot_date, COALESCE(NULLIF(TRIM(BOTH ' ' FROM e.team), ''), '(untagged)') AS team,
           CASE WHEN LOWER(COALESCE(e.state, '')) IN ('stopped', 'stopping') THEN 'STOPPED' ELSE 'UNMANAGED' END
               AS status
    FROM ec2_inventory AS e
    CROSS JOIN params AS p
    WHERE e.snapshot_date BETWEEN p.month_start AND p.report_date
      AND LOWER(COALESCE(e.state, '')) <> 'terminated'
      AND EXISTS (
          SELECT 1 FROM instances AS s
          WHERE s.snapshot_date = e.snapshot_date
      )
      AND NOT EXISTS (
          SELECT 1 FROM instances AS i
          WHERE i.snapshot_date = e.snapshot_date
            AND i.account_id = e.account_id
            AND i.region = e.region
            AND i.instance_id = e.instance_id
      )
)
SELECT
    snapshot_date,
    team,
    CAST(COUNT(*) AS BIGINT) AS instances,
    CAST(COUNT_IF(status = 'COMPLIANT') AS BIGINT) AS compliant,
    CAST(COUNT_IF(status = 'NON_COMPLIANT') AS BIGINT) AS non_compliant,
    CAST(COUNT_IF(status = 'STALE') AS BIGINT) AS stale,
    CAST(COUNT_IF(status = 'NO_DATA') AS BIGINT) AS no_data,
    CAST(COUNT_IF(status = 'UNMANAGED') AS BIGINT) AS unmanaged,
    CAST(COUNT_IF(status = 'STOPPED') AS BIGINT) AS stopped
FROM statuses
GROUP BY snapshot_date, team
ORDER BY snapshot_date, team
