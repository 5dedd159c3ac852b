-- Per-node attributes shared by both lake tables of one account/Region (DuckDB, over Arrow input).
-- Inputs: tags_raw, info_raw (parsed RDS lines, all strings), tag_roles(role, tag_key, priority).

-- Tags: the last value per key wins; roles (team, environment, patch_group, name) take the first
-- configured key that has a non-empty value, so both "PatchGroup" and "Patch Group" work.
CREATE OR REPLACE TEMP TABLE node_tags AS
WITH latest AS (
    SELECT resourceId AS instance_id, "Key" AS tag_key, arg_max("Value", line_number) AS tag_value
    FROM tags_raw
    WHERE coalesce("Key", '') <> ''
    GROUP BY ALL
),
roles AS (
    SELECT l.instance_id, r.role, arg_min(trim(l.tag_value), r.priority) AS tag_value
    FROM latest AS l
    JOIN tag_roles AS r ON l.tag_key = r.tag_key
    WHERE coalesce(trim(l.tag_value), '') <> ''
    GROUP BY ALL
),
pivoted AS (
    SELECT instance_id,
           max(tag_value) FILTER (WHERE role = 'team') AS team,
           max(tag_value) FILTER (WHERE role = 'environment') AS environment,
           max(tag_value) FILTER (WHERE role = 'patch_group') AS patch_group,
           max(tag_value) FILTER (WHERE role = 'name') AS name
    FROM roles
    GROUP BY instance_id
),
maps AS (
    SELECT instance_id,
           map_from_entries(list(struct_pack(k := tag_key, v := coalesce(tag_value, '')) ORDER BY tag_key)) AS tags
    FROM latest
    GROUP BY instance_id
)
SELECT m.instance_id, m.tags, p.team, p.environment, p.patch_group, p.name
FROM maps AS m
LEFT JOIN pivoted AS p USING (instance_id);

-- Instance information: one line per node; the last line wins if a file repeats it.
CREATE OR REPLACE TEMP TABLE node_info AS
SELECT resourceId AS instance_id,
       nullif(ResourceType, '') AS resource_type,
       nullif(ComputerName, '') AS computer_name,
       nullif(IpAddress, '') AS ip_address,
       nullif(PlatformType, '') AS platform_type,
       nullif(PlatformName, '') AS platform_name,
       nullif(PlatformVersion, '') AS platform_version,
       nullif(AgentType, '') AS agent_type,
       nullif(AgentVersion, '') AS agent_version,
       nullif(AgentStatus, '') AS agent_status,
       nullif(InstanceStatus, '') AS instance_status,
       rds_time(captureTime) AS info_capture_time
FROM info_raw
QUALIFY row_number() OVER (PARTITION BY resourceId ORDER BY line_number DESC) = 1;
