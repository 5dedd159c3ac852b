-- Timestamp attributes whose text is present but not ISO-8601 (rds_time in macros.sql), one row per
-- (line, attribute), with the text as written: the evidence behind a NULL timestamp in the lake.
-- Inputs: the parsed RDS tables (*_raw) and source_keys(rds_type, source_file, source_key).
WITH invalid AS (
    SELECT 'AWS:ComplianceItem' AS rds_type, source_file, line_number, resourceId AS node_id, 'captureTime' AS field, captureTime AS raw_value FROM items_raw WHERE rds_time_invalid(captureTime)
    UNION ALL SELECT 'AWS:ComplianceItem', source_file, line_number, resourceId, 'ExecutionTime', ExecutionTime FROM items_raw WHERE rds_time_invalid(ExecutionTime)
    UNION ALL SELECT 'AWS:ComplianceItem', source_file, line_number, resourceId, 'InstalledTime', InstalledTime FROM items_raw WHERE rds_time_invalid(InstalledTime)
    UNION ALL SELECT 'AWS:PatchSummary', source_file, line_number, resourceId, 'captureTime', captureTime FROM summary_raw WHERE rds_time_invalid(captureTime)
    UNION ALL SELECT 'AWS:PatchSummary', source_file, line_number, resourceId, 'OperationStartTime', OperationStartTime FROM summary_raw WHERE rds_time_invalid(OperationStartTime)
    UNION ALL SELECT 'AWS:PatchSummary', source_file, line_number, resourceId, 'OperationEndTime', OperationEndTime FROM summary_raw WHERE rds_time_invalid(OperationEndTime)
    UNION ALL SELECT 'AWS:InstanceInformation', source_file, line_number, resourceId, 'captureTime', captureTime FROM info_raw WHERE rds_time_invalid(captureTime)
    UNION ALL SELECT 'AWS:Tag', source_file, line_number, resourceId, 'captureTime', captureTime FROM tags_raw WHERE rds_time_invalid(captureTime)
    UNION ALL SELECT 'AWS:ComplianceSummary', source_file, line_number, resourceId, 'captureTime', captureTime FROM csummary_raw WHERE rds_time_invalid(captureTime)
    UNION ALL SELECT 'AWS:ComplianceSummary', source_file, line_number, resourceId, 'ExecutionTime', ExecutionTime FROM csummary_raw WHERE rds_time_invalid(ExecutionTime)
)
SELECT k.source_key, i.rds_type, i.line_number, i.node_id AS instance_id, i.field,
       left(i.raw_value, 256) AS raw_value
FROM invalid AS i
JOIN source_keys AS k USING (rds_type, source_file)
ORDER BY k.source_key, i.line_number, i.field
