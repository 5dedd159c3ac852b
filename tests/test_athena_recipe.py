"""AWS's patch-reporting recipe queries run unchanged on our raw Resource Data Sync tables.

The recipe (aws-samples/cloud-operations-best-practices, patch-reporting templates) queries tables that a
Glue crawler makes over RDS. Our raw tables come from DDL instead (partition projection, no crawler), so
they must declare every attribute of AWS's inventory schema under the crawler's lower-case names. The
recipe's queries are kept verbatim in ``tests/fixtures/athena_recipe``; here they run on DuckDB over RDS
JSON Lines, through tables built only from our DDL files and the views ``docs/athena.md`` gives, and their
results are checked against the same data evaluated in plain Python.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from patch_compliance.config import sql_dir

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
