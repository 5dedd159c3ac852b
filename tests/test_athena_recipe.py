"""AWS's patch-reporting recipe queries run unchanged on our raw Resource Data Sync tables.

The recipe (aws-samples/cloud-operations-best-practices, patch-reporting templates) queries tables that a
Glue crawler makes over RDS. Our raw tables come from DDL instead (partition projection, no crawler), so
they must declare every attribute of AWS's inventory schema under the crawler's lower-case names. The
recipe's queries are kept verbatim in ``tests/fixtures/athena_recipe``; here they run on DuckDB over RDS
JSON Lines, through tables built only from our DDL files and the views ``docs/athena.md`` gives, and their
results are checked against the same data evaluated in plain Python.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from patch_compliance.config import sql_dir
from tests.fixtures import rds_fixtures as fx

FIXTURES = Path(__file__).parent / "fixtures"
DOCS = Path(__file__).parents[1] / "docs/athena.md"
RECIPE = FIXTURES / "athena_recipe"
RAW_TABLES = ("rds_compliance_item", "rds_compliance_summary", "rds_patch_summary", "rds_instance_information",
              "rds_tag")
ENVELOPE = {"resourceid", "capturetime", "schemaversion"}
ATHENA_DATABASE = "patch_compliance"  # config query.athena_database, which the documented views name
RECIPE_DATABASE = "ssm_global_resource_sync"  # the recipe's Glue database, named by its dashboard SQL
ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("eu-west-1", "us-east-1")


# --- Our DDL, as Athena reads it ---

@dataclass(frozen=True)
class RawTable:
    name: str
    rds_type: str
    columns: list[str]
    types: list[str]
    partitions: list[str]
    json_keys: dict[str, str]  # column -> JSON key (lower case), from the SerDe's mapping.* properties
    location_template: str
    projected: dict[str, list[str]]  # enum partition projection: partition -> values


def raw_table(name: str, sync_uri: str = "{{sync_uri}}") -> RawTable:
    """Parse a raw DDL file: its columns, SerDe key mapping, location template and projected values."""
    values = {"sync_uri": sync_uri, "account_ids": ",".join(ACCOUNTS), "regions": ",".join(REGIONS)}
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m[1], m[0]), (sql_dir() / f"athena/{name}.sql").read_text())
    tree = sqlglot.parse_one(text, read="athena")
    columns = [c.name for c in tree.this.expressions]
    serde = tree.find(exp.RowFormatSerdeProperty).args["serde_properties"].expressions
    mapping = {p.this.name.removeprefix("mapping."): p.args["value"].name for p in serde
               if p.this.name.startswith("mapping.")}
    props = {p.this.name: p.args["value"].name for p in tree.args["properties"].expressions
             if type(p) is exp.Property}
    partitions = [c.name for c in tree.find(exp.PartitionedByProperty).this.expressions]
    location = tree.find(exp.LocationProperty).this.name
    return RawTable(
        name=name, rds_type=location.rstrip("/").rsplit("/", 1)[1], columns=columns,
        types=[c.args["kind"].sql(dialect="hive").upper() for c in tree.this.expressions], partitions=partitions,
        json_keys={c: mapping.get(c, c) for c in columns}, location_template=props["storage.location.template"],
        projected={p: props[f"projection.{p}.values"].split(",") for p in partitions
                   if props.get(f"projection.{p}.type") == "enum"})


def documented_views() -> list[str]:
    """The CREATE VIEW statements docs/athena.md gives for running the recipe on our tables."""
    text = DOCS.read_text()
    return [m[1] for m in re.finditer(r"^(CREATE OR REPLACE VIEW .+?);$", text, re.MULTILINE)]


def recipe_tables() -> dict[str, str]:
    """Recipe (crawler) table name -> our raw table, as the documented views map them."""
    mapping = {}
    for statement in documented_views():
        tree = sqlglot.parse_one(statement, read="athena")
        view, source = tree.this, tree.expression.find(exp.Table)
        assert view.db == RECIPE_DATABASE and source.db == ATHENA_DATABASE, statement
        mapping[view.name] = source.name
    return mapping


def test_raw_tables_declare_every_attribute_of_the_inventory_schema():
    """Exactly the schema's attributes (lower-case, as strings) plus the RDS envelope: nothing missing, nothing else."""
    schema = json.loads((FIXTURES / "inventory_schema.json").read_text())["types"]
    assert {raw_table(name).rds_type for name in RAW_TABLES} == set(schema)
    for name in RAW_TABLES:
        table = raw_table(name)
        declared = {table.json_keys[c] for c in table.columns}
        assert declared == {a.lower() for a in schema[table.rds_type]} | ENVELOPE, name
        assert len(declared) == len(table.columns), f"{name}: two columns read one attribute"
        assert set(table.types) == {"STRING"}, name
        assert not set(table.columns) & set(table.partitions), name


# --- The recipe's queries, verbatim ---

def recipe_query(path: Path) -> str:
    """The query text below a fixture's citation header; its SHA-256 is in the header, so edits show."""
    header, body = path.read_text().split("\n-- Query text (verbatim, sha256 ", 1)
    digest, text = body.split("):\n", 1)
    assert header.startswith("-- Recipe query ") and "aws-samples/cloud-operations-best-practices" in header
    assert hashlib.sha256(text.encode()).hexdigest() == digest, f"{path.name} differs from the recipe"
    return text


def column_references(text: str) -> list[tuple[str, str]]:
    """(recipe table, column) for every column a query names; every reference is qualified."""
    tree = sqlglot.parse_one(text, read="athena")
    aliases = {t.alias_or_name: t.name for t in tree.find_all(exp.Table)}
    references = []
    for column in tree.find_all(exp.Column):
        assert column.table in aliases, f"unqualified or unknown table for {column.sql()}"
        references.append((aliases[column.table], column.name))
    return references


# --- RDS JSON Lines for a few nodes (every value a string, the envelope on every line) ---

@dataclass
class Node:
    node_id: str
    account: str
    region: str
    info: dict[str, str]
    tags: list[dict[str, str]]
    items: list[dict[str, str]]
    summaries: list[dict[str, str]]
    patch: dict[str, str] | None
    capture: str = fx.CAPTURE


SEVERITIES = ("Critical", "High", "Medium", "Low", "Informational", "Unspecified")


def compliance_summary(items: list[dict[str, str]], compliance_type: str = "Patch") -> dict[str, str]:
    """One AWS:ComplianceSummary line: status and per-severity counts of a node's items of one type."""
    mine = [i for i in items if i["ComplianceType"] == compliance_type]
    counts = {f"{prefix}{s}Count": str(sum(i["Status"] == status and i.get("Severity", "").title() == s
                                           for i in mine))
              for prefix, status in (("Compliant", "COMPLIANT"), ("NonCompliant", "NON_COMPLIANT")) for s in SEVERITIES}
    noncompliant = [i for i in mine if i["Status"] == "NON_COMPLIANT"]
    return {"ComplianceType": compliance_type, "PatchGroup": mine[0].get("PatchGroup", ""),
            "PatchBaselineId": mine[0].get("PatchBaselineId", ""),
            "Status": "NON_COMPLIANT" if noncompliant else "COMPLIANT",
            "OverallSeverity": noncompliant[0]["Severity"] if noncompliant else "UNSPECIFIED",
            "ExecutionId": mine[0]["ExecutionId"], "ExecutionType": mine[0]["ExecutionType"],
            "ExecutionTime": mine[0]["ExecutionTime"], **counts}


def without(record: dict[str, str], *keys: str) -> dict[str, str]:
    return {k: v for k, v in record.items() if k not in keys}


def fleet() -> list[Node]:
    """Nodes that exercise each query's filters and joins: untagged, stopped, terminated, hybrid, other types."""
    association = {"ComplianceType": "Association", "ExecutionId": "assoc-run-1", "ExecutionType": "Command",
                   "ExecutionTime": "2026-11-02T02:00:00Z", "Id": "c3f8e0a2-0000-4000-8000-00000000000a",
                   "Title": "inventory", "Status": "COMPLIANT", "Severity": "UNSPECIFIED",
                   "DocumentName": "AWS-GatherSoftwareInventory", "DocumentVersion": "1"}
    web = [fx.item("openssl-libs.x86_64", "Missing", "NON_COMPLIANT", cves="CVE-2026-0101,CVE-2026-0102"),
           fx.item("kernel.x86_64", "Installed", "COMPLIANT", installed="2026-10-20T08:00:00Z", Severity="HIGH"),
           fx.item("curl.x86_64", "InstalledPendingReboot", "NON_COMPLIANT", Severity="MEDIUM",
                   InstallOverrideList="s3://patch-lists/override.yaml"),
           association]
    windows = [fx.item("KB5034441", "Installed", "COMPLIANT", classification="SecurityUpdates", severity="Critical",
                       group="prod-windows", DetailedText="2024-01 Security Update",
                       DetailedLink="https://support.microsoft.com/help/5034441"),
               without(fx.item("KB5001716", "InstalledOther", "COMPLIANT", group="prod-windows"),
                       "Classification", "Severity"),
               fx.item("KB890830", "NotApplicable", "", classification="Updates", severity="Unspecified",
                       group="prod-windows")]
    batch = [fx.item("bash.x86_64", "Installed", "COMPLIANT", Severity="LOW"),
             fx.item("glibc.x86_64", "Failed", "NON_COMPLIANT", cves="CVE-2026-0200", Severity="CRITICAL")]
    quiet = [fx.item("zlib.x86_64", "Installed", "COMPLIANT", Severity="INFORMATIONAL")]
    windows_info = {**fx.info("mi-0b2c3d4e5f6a7b8c9"), "PlatformType": "Windows",
                    "PlatformName": "Microsoft Windows Server 2022 Datacenter", "PlatformVersion": "10.0.20348"}
    return [
        Node("i-0a1b2c3d4e5f60001", ACCOUNTS[0], REGIONS[0], fx.info("i-0a1b2c3d4e5f60001"),
             fx.tags(Name="web-1", Patch_Group="prod-linux"), web,
             [compliance_summary(web), compliance_summary(web, "Association")],
             fx.summary(MissingCount="1", InstalledPendingRebootCount="1", ExecutionId="run-1",
                        NonCompliantSeverity="CRITICAL", CriticalNonCompliantCount="1",
                        SecurityNonCompliantCount="2", OtherNonCompliantCount="0")),
        Node("mi-0b2c3d4e5f6a7b8c9", ACCOUNTS[1], REGIONS[1], windows_info, fx.tags(Name="onprem-1"), windows,
             [compliance_summary(windows)], fx.summary(PatchGroup="prod-windows", InstalledOtherCount="1",
                                                       NotApplicableCount="1", MissingCount="0")),
        Node("i-0c1b2c3d4e5f60003", ACCOUNTS[0], REGIONS[0], fx.info("i-0c1b2c3d4e5f60003", "Stopped"),
             fx.tags(Name="batch-1", Team="data"), batch, [compliance_summary(batch)],
             fx.summary(FailedCount="1", MissingCount="0", InstalledCount="1")),
        # No AWS:Tag object: gone from every inner join, kept by the dashboard's LEFT JOIN.
        Node("i-0d1b2c3d4e5f60004", ACCOUNTS[1], REGIONS[0], without(fx.info("i-0d1b2c3d4e5f60004"), "InstanceStatus"),
             [], quiet, [compliance_summary(quiet)], fx.summary(MissingCount="0")),
        # Terminated: RDS keeps its files; no scan data since, but it is tagged.
        Node("i-0e1b2c3d4e5f60005", ACCOUNTS[0], REGIONS[1], fx.info("i-0e1b2c3d4e5f60005", "Terminated"),
             fx.tags(Name="old-1"), [], [], None, capture="2026-10-01T03:10:04Z"),
        # Active and tagged, never scanned: no compliance objects at all.
        Node("i-0f1b2c3d4e5f60006", ACCOUNTS[0], REGIONS[0], fx.info("i-0f1b2c3d4e5f60006"),
             fx.tags(Name="new-1"), [], [], None),
    ]


def write_rds(root: Path, nodes: list[Node]) -> None:
    for n in nodes:
        kw = {"account": n.account, "region": n.region}
        objects = {"AWS:InstanceInformation": [n.info], "AWS:Tag": n.tags, "AWS:ComplianceItem": n.items,
                   "AWS:ComplianceSummary": n.summaries, "AWS:PatchSummary": [n.patch] if n.patch else []}
        for rds_type, records in objects.items():
            if records:
                fx.write_object(root, rds_type, n.node_id, [fx.line(n.node_id, r, n.capture) for r in records], **kw)
    # RDS's probe object sits outside the partition layout; projection never reads it.
    (root / "AWS:InstanceInformation" / f"accountid={ACCOUNTS[0]}" / "test.json").write_text("{}\n")


# --- DuckDB stand-ins for our tables, the documented views, and the recipe's queries ---

def load_raw_table(con: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    """Read the JSON as Athena's SerDe does: keys case-insensitive, every DDL column a string, partitions from
    the key path (projected values only), unknown keys ignored, absent keys NULL."""
    pattern = re.sub(r"\$\{\w+\}", "*", table.location_template) + "/*.json"
    hive_types = "{" + ", ".join(f"'{p}': 'VARCHAR'" for p in table.partitions) + "}"
    columns = ", ".join(f"m['{table.json_keys[c]}'] AS \"{c}\"" for c in table.columns)
    projected = " AND ".join(f"{p} IN ({', '.join(repr(v) for v in values)})" for p, values in table.projected.items())
    con.execute(f"""
        CREATE TABLE {ATHENA_DATABASE}.{table.name} AS
        SELECT {columns}, {", ".join(table.partitions)}
        FROM (SELECT map_from_entries(list_transform(json_keys(json),
                     lambda k: struct_pack(k := lower(k), v := json->>k))) AS m, *
              FROM read_ndjson_objects('{pattern}', hive_partitioning = true, hive_types = {hive_types}))
        WHERE {projected}""")


@pytest.fixture(scope="module")
def recipe_db(tmp_path_factory) -> tuple[duckdb.DuckDBPyConnection, list[Node]]:
    root = tmp_path_factory.mktemp("recipe") / "rds"
    nodes = fleet()
    write_rds(root, nodes)
    con = duckdb.connect()
    con.execute(f"CREATE SCHEMA {ATHENA_DATABASE}")
    con.execute(f"CREATE SCHEMA {RECIPE_DATABASE}")
    for name in RAW_TABLES:
        load_raw_table(con, raw_table(name, str(root)))
    for statement in documented_views():
        con.execute(sqlglot.transpile(statement, read="athena", write="duckdb",
                                      unsupported_level=sqlglot.ErrorLevel.RAISE)[0])
    # The named queries name tables unqualified: run them with the recipe's database as the current one.
    con.execute(f"USE {RECIPE_DATABASE}")
    return con, nodes


# --- What each query returns, evaluated in plain Python over the same records ---

Row = tuple[str | None, ...]


def tags_of(nodes: list[Node], resource_id: str) -> list[dict[str, str]]:
    return [t for n in nodes if n.node_id == resource_id for t in n.tags]


def compliance_items(nodes: list[Node], status: str) -> list[Row]:
    return [(n.account, n.region, n.node_id, i.get("Status"), i.get("Id"), i.get("Title"), i.get("Classification"),
             i.get("PatchSeverity"), i.get("Severity"), i.get("ExecutionType"), i.get("PatchBaselineId"), n.capture)
            for n in nodes for i in n.items if i.get("ComplianceType") == "Patch" and i.get("Status") == status
            for _ in tags_of(nodes, n.node_id)]


def patch_summaries(nodes: list[Node]) -> list[Row]:
    keys = ("MissingCount", "CriticalNonCompliantCount", "OtherNonCompliantCount", "InstalledPendingRebootCount",
            "InstalledCount", "FailedCount", "InstalledRejectedCount", "OperationType", "RebootOption", "BaselineId")
    return [(n.account, n.region, n.node_id, *(n.patch.get(k) for k in keys), n.capture)
            for n in nodes if n.patch for _ in tags_of(nodes, n.node_id)]


def compliance_summaries(nodes: list[Node]) -> list[Row]:
    keys = ("Status", "ExecutionType", "OverallSeverity", "CompliantCriticalCount", "PatchBaselineId")
    return [(n.account, n.region, n.node_id, *(s.get(k) for k in keys), n.capture)
            for n in nodes for s in n.summaries if s.get("ComplianceType") == "Patch"
            for _ in tags_of(nodes, n.node_id)]


def active_instances(nodes: list[Node]) -> list[Row]:
    keys = ("ComputerName", "IpAddress", "InstanceStatus", "PlatformType", "PlatformName", "PlatformVersion",
            "AgentType", "AgentVersion")
    return [(n.account, n.region, n.node_id, *(n.info.get(k) for k in keys), n.capture)
            for n in nodes if n.info.get("InstanceStatus") == "Active" for _ in tags_of(nodes, n.node_id)]


def dashboard(nodes: list[Node]) -> list[Row]:
    rows = []
    for n in nodes:
        patch = [s for m in nodes if m.node_id == n.node_id for s in m.summaries
                 if s.get("ComplianceType") == "Patch"] or [{}]
        names = [t["Value"] for t in tags_of(nodes, n.node_id) if t["Key"] == "Name"] or [None]
        info = n.info.get
        rows += [(n.capture, n.node_id, name, info("PlatformType"), info("PlatformName"), info("PlatformVersion"),
                  info("InstanceStatus"), n.region, n.account, info("ComputerName"), info("IpAddress"),
                  s.get("Status"), s.get("PatchBaselineId")) for s in patch for name in names]
    return rows


EXPECTED: dict[str, Callable[[list[Node]], list[Row]]] = {
    "QueryCompliantPatch": lambda nodes: compliance_items(nodes, "COMPLIANT"),
    "QueryNonCompliantPatch": lambda nodes: compliance_items(nodes, "NON_COMPLIANT"),
    "QueryPatchSummary": patch_summaries,
    "QueryComplianceSummaryPatch": compliance_summaries,
    "QueryInstanceList": active_instances,
    "ssm_instances_compliance": dashboard,
}


def test_the_kept_queries_are_the_recipes_queries_over_these_types():
    assert sorted(p.stem for p in RECIPE.glob("*.sql")) == sorted(EXPECTED)
    assert set(recipe_tables().values()) == set(RAW_TABLES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_column_a_recipe_query_names_is_declared(name):
    """A column dropped from (or renamed in) our DDL fails here, before any data is involved."""
    tables = recipe_tables()
    for recipe_table, column in column_references(recipe_query(RECIPE / f"{name}.sql")):
        assert recipe_table in tables, f"{name}: no view for {recipe_table}"
        raw = raw_table(tables[recipe_table])
        assert column in raw.columns + raw.partitions, f"{name}: {recipe_table}.{column} not in {raw.name}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_query_runs_unchanged_and_returns_what_the_data_says(recipe_db, name):
    con, nodes = recipe_db
    text = recipe_query(RECIPE / f"{name}.sql")
    duck = sqlglot.transpile(text, read="athena", write="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)
    assert len(duck) == 1
    cursor = con.execute(duck[0])
    assert [d[0] for d in cursor.description] == sqlglot.parse_one(text, read="athena").named_selects
    rows = cursor.fetchall()
    expected = EXPECTED[name](nodes)
    limit = sqlglot.parse_one(text, read="athena").args.get("limit")
    # The recipe's LIMIT has no ORDER BY: keep the data under it so the whole result is defined.
    assert limit is None or len(expected) < int(limit.expression.name)
    assert expected and Counter(rows) == Counter(expected)
    # Each selected column carries data somewhere, so a column read as all NULL cannot pass unnoticed.
    assert all(any(row[i] is not None for row in rows) for i in range(len(cursor.description)))


def test_fixture_records_use_only_schema_attributes():
    """Misspelt attributes in the data would read as NULL on both sides of the comparison; rule them out."""
    schema = json.loads((FIXTURES / "inventory_schema.json").read_text())["types"]
    for n in fleet():
        records = {"AWS:InstanceInformation": [n.info], "AWS:Tag": n.tags, "AWS:ComplianceItem": n.items,
                   "AWS:ComplianceSummary": n.summaries, "AWS:PatchSummary": [n.patch] if n.patch else []}
        for rds_type, lines in records.items():
            for record in lines:
                assert set(record) <= set(schema[rds_type]), (n.node_id, rds_type, set(record) - set(schema[rds_type]))
