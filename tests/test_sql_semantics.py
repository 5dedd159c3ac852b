"""The SQL in sql/ means the same on Athena (Trino) and on DuckDB, where the product runs it on both.

sqlglot translates syntax, not meaning: some Trino constructs become DuckDB functions that answer
differently, and some are rewritten or dropped silently. ``RISKS`` lists those constructs with how
the engines differ and, where one exists, the form that means the same on both. Every ``sql/`` file is
parsed as Trino; a risky node must be in its safe form or in ``ALLOWED`` with the reason it means the
same here, or the test fails. The executable checks below run the constructs on DuckDB as the
product transpiles them (``transpile.to_duckdb``), against Trino's documented answer, and as the
stand-in's Athena runs them (``sim.moto_ext.athena_sql.duckdb_sql``, which must give Trino's).
docs/athena.md lists the constructs checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from patch_compliance.config import sql_dir
from patch_compliance.transpile import to_duckdb
from sim.moto_ext.athena_sql import MACROS, duckdb_sql

SQL_FILES = sorted(p.relative_to(sql_dir()).as_posix() for p in sql_dir().rglob("*.sql")
                   if not p.relative_to(sql_dir()).as_posix().startswith("ingest/"))  # sql/ingest is DuckDB's own
ATHENA_ONLY = ("athena/",)  # run by Athena only: the product never transpiles them to DuckDB


def _in_filter(node: exp.Expression) -> bool:
    """Under WHERE / JOIN ON through AND, OR and parentheses only: there NULL and FALSE both drop the row."""
    parent = node.parent
    while isinstance(parent, exp.And | exp.Or | exp.Paren):
        parent = parent.parent
    return isinstance(parent, exp.Where) or (isinstance(parent, exp.Join) and parent.args.get("on") is not None)


def _double_operand(node: exp.Expression) -> bool:
    return any(isinstance(side, exp.Cast) and side.to.this == exp.DataType.Type.DOUBLE
               for side in (node.this, node.expression))


@dataclass(frozen=True)
class Risk:
    why: str  # how Trino and DuckDB differ
    safe: Callable[[exp.Expression, str], bool] | None = None  # a use that means the same on both


RISKS: dict[type[exp.Expression], Risk] = {
    exp.DateDiff: Risk("date_diff on timestamps: Trino counts whole units elapsed, DuckDB unit boundaries crossed "
                       "(23:00 to 01:00 next day is 0 days on Trino, 1 on DuckDB); the same on DATEs"),
    exp.Bracket: Risk("m[k] / a[i]: Trino fails on a missing key or an index out of bounds, DuckDB answers NULL",
                      lambda n, _: bool(n.args.get("safe"))),  # element_at: NULL on both
    exp.Div: Risk("'/' on integers: Trino divides as integers (7 / 2 = 3), DuckDB as doubles (3.5)",
                  lambda n, _: _double_operand(n)),
    exp.ArrayAgg: Risk("array_agg without ORDER BY: the element order is undefined on both, and differs",
                       lambda n, _: n.find_ancestor(exp.ArraySort) is not None or isinstance(n.this, exp.Order)),
    exp.LimitOptions: Risk("FETCH FIRST n ROWS WITH TIES: sqlglot writes LIMIT n, dropping the ties",
                           lambda n, _: not n.args.get("with_ties")),
    exp.ApproxQuantile: Risk("approx_percentile: sqlglot drops its weight argument; both are approximate"),
    exp.ArgMax: Risk("max_by: Trino keeps a NULL value of the row with the greatest key, DuckDB's arg_max skips "
                     "rows whose value is NULL"),
    exp.ArgMin: Risk("min_by: as max_by"),
    exp.Trim: Risk("trim(s): Trino removes every whitespace character, DuckDB only spaces",
                   lambda n, _: n.expression is not None),  # TRIM(BOTH ' ' FROM s): spaces on both
    exp.FromISO8601Timestamp: Risk("from_iso8601_timestamp: Trino keeps milliseconds, DuckDB's cast microseconds"),
    exp.ArrayContains: Risk("contains(a, x): Trino answers NULL when x is absent and a holds a NULL, DuckDB false",
                            lambda n, _: _in_filter(n)),
    exp.RegexpLike: Risk("regexp_like: Java regular expressions on Trino, RE2 on DuckDB"),
    exp.RegexpSplit: Risk("regexp_split: Java regular expressions on Trino, RE2 on DuckDB (\\s: Java also "
                          "matches U+000B)"),
    exp.AtTimeZone: Risk("AT TIME ZONE: Trino keeps a timestamp with time zone, DuckDB gives a plain timestamp",
                         lambda n, _: isinstance(n.parent, exp.Cast)
                         and n.parent.to.this == exp.DataType.Type.TIMESTAMP),
    exp.Sum: Risk("sum of BIGINT: Trino answers BIGINT (failing on overflow), DuckDB HUGEINT"),
    exp.Anonymous: Risk("a function sqlglot does not know is passed through unchanged, whatever DuckDB means by it",
                        lambda n, relative: n.name.upper() == "MAP_AGG" and relative.startswith(ATHENA_ONLY)),
}

DATE_ARGUMENTS = "its arguments are DATEs (release_date, first_seen_missing, report_date): whole days on both"
ATHENA_RUN = "runs on Athena only (the stand-in's Athena runs Trino's meaning)"
ONE_LINE = ("RDS writes one line per node of AWS:InstanceInformation, AWS:PatchSummary and AWS:ComplianceSummary "
            "and one per tag key (reference §1): each group has one row, so no NULL value is kept or skipped")
ISO_PATTERN = ("the strict ISO-8601 pattern uses anchors, \\d, {n}, {n,m}, ?, | and character classes only, "
               "which Java and RE2 read alike")
SPLIT_PARAMETER = "the array is SPLIT from a bound parameter, so it never holds a NULL"
ALLOWED: dict[tuple[str, str], str] = {
    ("report/missing_critical_patches.sql", "DateDiff"): DATE_ARGUMENTS,
    ("athena/snapshot_patch_compliance.sql", "ArgMax"): f"{ATHENA_RUN}; {ONE_LINE}",
    ("athena/snapshot_instances.sql", "ArgMax"): f"{ATHENA_RUN}; {ONE_LINE}",
    ("athena/snapshot_patch_compliance.sql", "FromISO8601Timestamp"):
        f"{ATHENA_RUN}; RDS writes whole-second timestamps (…Z), the same instant in both precisions",
    ("athena/snapshot_instances.sql", "FromISO8601Timestamp"):
        f"{ATHENA_RUN}; RDS writes whole-second timestamps (…Z), the same instant in both precisions",
    ("athena/snapshot_patch_compliance.sql", "RegexpLike"): f"{ATHENA_RUN}; {ISO_PATTERN}",
    ("athena/snapshot_instances.sql", "RegexpLike"): f"{ATHENA_RUN}; {ISO_PATTERN}",
    ("athena/snapshot_patch_compliance.sql", "RegexpSplit"):
        f"{ATHENA_RUN}; the CVE list separators: a vertical tab in CVEIds would only add an empty entry, filtered",
    ("athena/snapshot_instances.sql", "Sum"): f"{ATHENA_RUN}; the sum lands in a BIGINT column",
    ("report/remediation.sql", "DateDiff"): DATE_ARGUMENTS,
    ("report/remediation.sql", "ArrayContains"):
        f"{SPLIT_PARAMETER}, and the result is COALESCEd to FALSE, so Trino's NULL and DuckDB's false agree",
    ("report/causes.sql", "ArrayContains"):
        f"{SPLIT_PARAMETER}, and a host without a Patch Group tag (the NULL) matched no_patch_group first",
}


def findings() -> tuple[list[str], set[tuple[str, str]]]:
    """Risky nodes neither safe nor allowed, and the allowed entries that were used."""
    violations, used = [], set()
    for relative in SQL_FILES:
        text = re.sub(r"\{\{\w+\}\}", "placeholder", (sql_dir() / relative).read_text())
        for node in sqlglot.parse_one(text, read="athena").walk():
            risk = RISKS.get(type(node))
            if risk is None or (risk.safe is not None and risk.safe(node, relative)):
                continue
            key = (relative, type(node).__name__)
            if key in ALLOWED:
                used.add(key)
            else:
                violations.append(f"{relative}: {node.sql(dialect='trino')[:80]} -- {risk.why}")
    return violations, used


def test_no_sql_file_uses_a_construct_whose_meaning_differs_between_trino_and_duckdb() -> None:
    violations, used = findings()
    assert violations == []
    assert set(ALLOWED) == used, f"allowed but no longer used: {sorted(set(ALLOWED) - used)}"


def test_the_checker_catches_each_risky_construct() -> None:
    examples = {
        "SELECT date_diff('day', a, b) FROM t": "DateDiff", "SELECT m['k'] FROM t": "Bracket",
        "SELECT a / b FROM t": "Div", "SELECT array_agg(x) FROM t": "ArrayAgg",
        "SELECT x FROM t ORDER BY x FETCH FIRST 1 ROWS WITH TIES": "LimitOptions",
        "SELECT approx_percentile(x, w, 0.5) FROM t": "ApproxQuantile", "SELECT max_by(a, b) FROM t": "ArgMax",
        "SELECT trim(a) FROM t": "Trim", "SELECT contains(a, 'x') AS c FROM t": "ArrayContains",
        "SELECT word_stem(a) FROM t": "Anonymous", "SELECT x AT TIME ZONE 'UTC' FROM t": "AtTimeZone",
    }
    for text, kind in examples.items():
        risky = [n for n in sqlglot.parse_one(text, read="athena").walk() if type(n) in RISKS
                 and not (RISKS[type(n)].safe and RISKS[type(n)].safe(n, "report/x.sql"))]
        assert [type(n).__name__ for n in risky] == [kind], text
    safe = ("SELECT element_at(m, 'k'), CAST(a AS DOUBLE) / b, array_sort(array_agg(x)), trim(BOTH ' ' FROM a), "
            "CAST(x AT TIME ZONE 'UTC' AS TIMESTAMP) FROM t WHERE contains(a, 'x') AND b > 0")
    assert [n for n in sqlglot.parse_one(safe, read="athena").walk() if type(n) in RISKS
            and not (RISKS[type(n)].safe and RISKS[type(n)].safe(n, "report/x.sql"))] == []


# --- executable: DuckDB's answer for the product's transpiled form, and for the stand-in's ---


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for macro in MACROS:
        connection.execute(macro)
    yield connection
    connection.close()


def product(con, trino: str) -> list[tuple]:
    return con.execute(to_duckdb(trino)).fetchall()


def stand_in(con, trino: str) -> list[tuple]:
    return con.execute(duckdb_sql(sqlglot.parse_one(trino, read="athena"))).fetchall()


@pytest.mark.parametrize(("trino", "answer"), [
    # Trino's answers, from its documentation and semantics; the product's transpiled form gives them.
    ("SELECT date_diff('day', DATE '2026-11-01', DATE '2026-11-15')", 14),
    ("SELECT element_at(MAP(ARRAY['a'], ARRAY['x']), 'missing')", None),
    ("SELECT element_at(ARRAY['a'], 1), element_at(ARRAY['a'], 5)", ("a", None)),
    ("SELECT array_join(array_sort(array_distinct(flatten(ARRAY[ARRAY['b', 'a'], ARRAY['a', 'c']]))), ' ')", "a b c"),
    ("SELECT array_sort(ARRAY[3, NULL, 1])", [1, 3, None]),  # Trino: NULLs last
    ("SELECT array_join(ARRAY['a', NULL, 'b'], ' ')", "a b"),  # Trino: NULL elements omitted
    ("SELECT greatest(1, NULL), least(1, NULL)", (None, None)),  # Trino: NULL if any argument is NULL
    ("SELECT split('', ','), split('a,b', ',')", ([""], ["a", "b"])),
    ("SELECT trim(BOTH ' ' FROM '  x  ')", "x"),
    ("SELECT CAST(from_iso8601_timestamp('2026-11-15T05:10:04+02:00') AT TIME ZONE 'UTC' AS TIMESTAMP)",
     datetime(2026, 11, 15, 3, 10, 4)),
    ("SELECT x FROM (VALUES 2, NULL, 1) AS t(x) ORDER BY x", [(1,), (2,), (None,)]),  # NULLS LAST by default
    ("SELECT count_if(x > 1), CAST(FLOOR(CAST(0.95 AS DOUBLE) * 19) AS BIGINT) FROM (VALUES 1, 2, 3) AS t(x)",
     (2, 18)),
])
def test_the_transpiled_form_gives_trinos_answer(con, trino, answer) -> None:
    rows = product(con, trino)
    got = rows if isinstance(answer, list) and answer and isinstance(answer[0], tuple) else (
        rows[0] if len(rows[0]) > 1 else rows[0][0])
    assert got == answer
    assert stand_in(con, trino) == rows


@pytest.mark.parametrize(("trino", "duckdb_answer", "trino_answer"), [
    ("SELECT date_diff('day', TIMESTAMP '2026-01-01 23:00:00', TIMESTAMP '2026-01-02 01:00:00')", 1, 0),
    ("SELECT max_by(x, y) FROM (VALUES ('a', 1), (NULL, 2)) AS t(x, y)", "a", None),
    ("SELECT trim(chr(9) || 'x ')", "\tx", "x"),
    ("SELECT from_iso8601_timestamp('2026-11-15T03:10:04.123456Z')",
     datetime(2026, 11, 15, 3, 10, 4, 123456), datetime(2026, 11, 15, 3, 10, 4, 123000)),
    ("SELECT contains(ARRAY['a', NULL], 'b')", False, None),
])
def test_where_the_transpiled_form_differs_the_rules_hold_and_the_stand_in_gives_trinos(
        con, trino, duckdb_answer, trino_answer) -> None:
    def value(rows: list[tuple]) -> object:
        got = rows[0][0]
        return got.replace(tzinfo=None) if isinstance(got, datetime) else got

    assert value(product(con, trino)) == duckdb_answer  # why the construct is a risk
    if "contains" not in trino:  # contains keeps DuckDB's answer: only used where NULL and FALSE agree
        assert value(stand_in(con, trino)) == trino_answer


def test_what_sqlglot_would_change_silently(con) -> None:
    with_ties = "SELECT x FROM (VALUES 1, 1, 2) AS t(x) ORDER BY x FETCH FIRST 1 ROWS WITH TIES"
    assert len(product(con, with_ties)) == 1  # Trino: 2 rows (the tie); sqlglot wrote LIMIT 1
    assert product(con, "SELECT 7 / 2") == [(3.5,)]  # Trino: 3
    assert "APPROX_QUANTILE(x, 0.5)" in to_duckdb("SELECT approx_percentile(x, w, 0.5) FROM t")  # weight dropped
