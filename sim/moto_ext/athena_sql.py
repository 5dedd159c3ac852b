"""The stand-in's Athena, part 1: one Trino statement, parameters bound, made DuckDB-runnable or refused.

``prepare`` does what Athena's front end does before running anything: one statement per query,
``ExecutionParameters`` substituted for the ``?`` placeholders in order (each one a SQL literal), and
the statement classified (SELECT, INSERT INTO, DELETE, CREATE EXTERNAL TABLE, DROP TABLE; anything
else is refused). ``duckdb_sql`` then writes a query tree as DuckDB SQL with sqlglot, after
rewriting what sqlglot translates to a DuckDB function of another meaning, so that DuckDB computes
Trino's answer:

- ``date_diff(unit, a, b)``: Trino counts whole units elapsed, DuckDB's ``date_diff`` counts unit
  boundaries crossed (``date_sub`` is DuckDB's whole-unit count);
- ``max_by`` / ``min_by``: Trino keeps a NULL value of the row with the extreme key, DuckDB's
  ``arg_max`` skips NULL values (``arg_max_null`` keeps them);
- ``trim(s)``: Trino trims every whitespace character, DuckDB only spaces;
- ``from_iso8601_timestamp``: Trino's result has millisecond precision, a DuckDB cast keeps micros;
- ``map_agg``: no DuckDB namesake, so it is a macro of the stand-in's connection (``MACROS``).

Constructs whose meaning sqlglot changes or drops, and that have no faithful rewrite here, are
refused with a reason ending "... is not emulated by the local stand-in": ``FETCH ... WITH TIES``
(sqlglot writes ``LIMIT``), ``approx_percentile`` (its weight is dropped), the ``[]`` subscript
(Trino fails on a missing map key or index, DuckDB answers NULL), ``/`` unless an operand is cast to
DOUBLE (Trino divides integers as integers), functions sqlglot does not know, and the hidden
``$path``-style columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError
from sqlglot.tokens import TokenType

from sim.moto_ext.api import NOT_EMULATED

DIALECT = "athena"
# Java's Character.isWhitespace set (what Trino's trim removes), without the non-breaking spaces.
TRINO_WHITESPACE = ("\t\n\u000b\f\r\u001c\u001d\u001e\u001f \u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                    "\u2008\u2009\u200a\u2028\u2029\u205f\u3000")
# A NULL or repeated key fails, as in Trino (the project's SQL groups by the key first).
MACROS = ("CREATE MACRO map_agg(k, v) AS map_from_entries(list(struct_pack(k := k, v := v)))",)
STAND_IN_FUNCTIONS = {"MAP_AGG"}  # Trino functions sqlglot does not know, defined by ``MACROS``
HIDDEN_COLUMNS = {"$path", "$file_size", "$file_modified_time", "$partition"}


class QueryFailed(Exception):
    """The query ends FAILED with this reason (Athena's error category: 1 system, 2 user, 3 other)."""

    def __init__(self, reason: str, category: int = 2, error_type: int = 1000) -> None:
        super().__init__(reason)
        self.reason = reason
        self.category = category
        self.error_type = error_type


def not_emulated(what: str) -> QueryFailed:
    return QueryFailed(f"NOT_SUPPORTED: {what} {NOT_EMULATED}", category=2, error_type=1100)


@dataclass(frozen=True)
class Statement:
    kind: str  # SELECT | INSERT | DELETE | CREATE_EXTERNAL_TABLE | DROP_TABLE
    tree: exp.Expression

    @property
    def statement_type(self) -> str:
        return "DDL" if self.kind in ("CREATE_EXTERNAL_TABLE", "DROP_TABLE") else "DML"


def bind(text: str, parameters: list[str]) -> str:
    """``text`` with each ``?`` placeholder (outside strings and comments) replaced by its literal."""
    literals = [_literal(value, n) for n, value in enumerate(parameters, 1)]
    try:
        tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(text)
    except sqlglot.errors.TokenError as exc:
        raise QueryFailed(f"SYNTAX_ERROR: {exc}") from exc
    slots = [t for t in tokens if t.token_type == TokenType.PLACEHOLDER]
    if len(slots) != len(literals):
        raise QueryFailed(f"INVALID_PARAMETER_USAGE: Incorrect number of parameters: expected {len(slots)} "
                          f"but found {len(literals)}")
    for token, literal in sorted(zip(slots, literals, strict=True), key=lambda pair: -pair[0].start):
        text = text[:token.start] + literal + text[token.end + 1:]
    return text


def _literal(value: str, position: int) -> str:
    """An ExecutionParameters value must be one SQL literal (a string, number, boolean, NULL or typed)."""
    try:
        node = sqlglot.parse_one(value, read=DIALECT)
    except ParseError as exc:
        raise QueryFailed(f"INVALID_PARAMETER_USAGE: parameter {position} ({value!r}) is not a literal: {exc}") from exc
    inner = node.this if isinstance(node, exp.Neg) else node
    typed = isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string
    if not (isinstance(inner, exp.Literal | exp.Boolean | exp.Null) or typed):
        raise not_emulated(f"parameter {position} ({value!r}), which is not a single literal,")
    return value


def prepare(text: str, parameters: list[str]) -> Statement:
    """Parse ``text`` with its parameters bound; refuse what the stand-in does not run."""
    bound = bind(text, parameters)
    try:
        trees = [t for t in sqlglot.parse(bound, read=DIALECT, error_level=ErrorLevel.RAISE) if t is not None]
    except ParseError as exc:
        raise QueryFailed(f"SYNTAX_ERROR: {exc.errors[0]['description'] if exc.errors else exc}") from exc
    if len(trees) != 1:
        raise QueryFailed("INVALID_SESSION_PROPERTY: Only one sql statement is allowed. Got: "
                          f"{len(trees)}" if trees else "SYNTAX_ERROR: the query is empty")
    tree = trees[0]
    if isinstance(tree, exp.Query):
        return Statement("SELECT", tree)
    if isinstance(tree, exp.Insert):
        if tree.args.get("overwrite"):
            raise not_emulated("INSERT OVERWRITE")
        return Statement("INSERT", tree)
    if isinstance(tree, exp.Delete):
        return Statement("DELETE", tree)
    if isinstance(tree, exp.Create) and tree.kind == "TABLE" and tree.find(exp.ExternalProperty):
        if isinstance(tree.expression, exp.Query):
            raise not_emulated("CREATE TABLE AS SELECT")
        return Statement("CREATE_EXTERNAL_TABLE", tree)
    if isinstance(tree, exp.Drop) and tree.kind == "TABLE":
        return Statement("DROP_TABLE", tree)
    what = tree.this if isinstance(tree, exp.Command) else type(tree).__name__.upper()
    raise not_emulated(f"the {what} statement")


def _refuse_changed_meaning(tree: exp.Expression) -> None:
    for node in tree.walk():
        if isinstance(node, exp.LimitOptions) and node.args.get("with_ties"):
            raise not_emulated("FETCH FIRST ... WITH TIES")
        if isinstance(node, exp.ApproxQuantile):
            raise not_emulated("approx_percentile")
        if isinstance(node, exp.Bracket) and not node.args.get("safe"):
            raise not_emulated("the [] subscript (Trino fails on a missing map key or index; use element_at)")
        if isinstance(node, exp.Div) and not any(_is_double(side) for side in (node.this, node.expression)):
            raise not_emulated("'/' without an operand cast to DOUBLE (Trino divides integers as integers)")
        if isinstance(node, exp.Anonymous) and node.name.upper() not in STAND_IN_FUNCTIONS:
            raise not_emulated(f"function {node.name}")
        if isinstance(node, exp.Column) and node.name in HIDDEN_COLUMNS:
            raise not_emulated(f"the hidden column {node.name}")
        if isinstance(node, exp.Version) and not (node.name == "VERSION" and node.expression.is_int):
            raise not_emulated("time travel other than FOR VERSION AS OF <snapshot id>")


def _is_double(node: exp.Expression) -> bool:
    return isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)


def _trino_meaning(node: exp.Expression) -> exp.Expression:
    """Rewrite one node whose sqlglot translation means something else on DuckDB."""
    if isinstance(node, exp.DateDiff):
        unit = exp.Literal.string((node.unit.name if node.unit else "day").lower())
        return exp.Anonymous(this="DATE_SUB", expressions=[unit, node.expression, node.this])
    if isinstance(node, exp.ArgMax | exp.ArgMin) and not node.args.get("count"):
        name = "ARG_MAX_NULL" if isinstance(node, exp.ArgMax) else "ARG_MIN_NULL"
        return exp.Anonymous(this=name, expressions=[node.this, node.expression])
    if isinstance(node, exp.Trim) and node.expression is None:
        return exp.Trim(this=node.this, expression=exp.Literal.string(TRINO_WHITESPACE),
                        position=node.args.get("position"))
    if isinstance(node, exp.FromISO8601Timestamp):
        cast = exp.Cast(this=node.this, to=exp.DataType.build("TIMESTAMPTZ"))
        return exp.Anonymous(this="DATE_TRUNC", expressions=[exp.Literal.string("millisecond"), cast])
    return node


def duckdb_sql(tree: exp.Expression) -> str:
    """A query tree (tables already renamed) as DuckDB SQL meaning what the Trino text means."""
    _refuse_changed_meaning(tree)
    rewritten = tree.copy().transform(_trino_meaning)
    try:
        return rewritten.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise not_emulated(f"a construct DuckDB cannot express ({exc})") from exc
