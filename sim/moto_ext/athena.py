"""Athena that executes: ``StartQueryExecution`` really runs the query (moto 5.2 stores it and runs nothing).

The statement is parsed as Athena SQL with its ``ExecutionParameters`` bound (``athena_sql``), its
tables found in the caller's Glue catalog and S3 (``athena_tables``) and run on an in-process DuckDB,
DML committing to Iceberg through pyiceberg (``athena_exec``). Execution is synchronous: it happens
inside ``StartQueryExecution``, so the first ``GetQueryExecution`` already answers the final state,
``SUCCEEDED`` or ``FAILED`` with Athena's ``StateChangeReason`` and ``AthenaError`` (``QUEUED`` and
``RUNNING`` are never observed; ``StopQueryExecution`` of a finished query changes nothing, as on
AWS). ``Statistics`` carry ``DataScannedInBytes`` (the bytes of the objects and data files read,
every one of each table named: the stand-in prunes no partition) and the engine time.

A SELECT's result is written as CSV to ``<OutputLocation><QueryExecutionId>.csv`` and paged by
``GetQueryResults`` (header row first, ``MaxResults`` 1-1000, an opaque ``NextToken``) with Trino's
type names (``athena_results``); DML answers ``UpdateCount``. Requests are checked as the API
reference says (lengths, the workgroup, an output location, idempotent ``ClientRequestToken``), and
what is not emulated fails the query with a reason saying so.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.moto_ext import Registry, api
from sim.moto_ext import athena_results as results
from sim.moto_ext.athena_sql import QueryFailed, prepare

MAX_QUERY_LENGTH = 262_144
REQUEST_MEMBERS = {"QueryString", "ClientRequestToken", "QueryExecutionContext", "ResultConfiguration",
                   "WorkGroup", "ExecutionParameters"}
ENGINE_VERSION = {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}


@dataclass
class Execution:
    """One query execution as ``GetQueryExecution`` describes it, and its result."""

    id: str
    query: str
    request: dict[str, Any]
    output_location: str
    workgroup: str
    submitted: float
    state: str = "QUEUED"
    statement_type: str = "DML"
    substatement: str | None = None
    reason: str | None = None
    error: dict[str, Any] | None = None
    completed: float | None = None
    scanned: int = 0
    engine_ms: int = 0
    columns: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    update_count: int | None = None

    def describe(self) -> dict[str, Any]:
        status: dict[str, Any] = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.completed is not None:
            status["CompletionDateTime"] = self.completed
        if self.reason:
            status["StateChangeReason"] = self.reason
        if self.error:
            status["AthenaError"] = self.error
        described: dict[str, Any] = {
            "QueryExecutionId": self.id, "Query": self.query, "StatementType": self.statement_type,
            "ResultConfiguration": {"OutputLocation": self.output_location},
            "QueryExecutionContext": self.request.get("QueryExecutionContext") or {},
            "Status": status, "WorkGroup": self.workgroup, "EngineVersion": ENGINE_VERSION,
            "Statistics": {"EngineExecutionTimeInMillis": self.engine_ms, "DataScannedInBytes": self.scanned,
                           "TotalExecutionTimeInMillis": self.engine_ms, "QueryQueueTimeInMillis": 0,
                           "ServicePreProcessingTimeInMillis": 0, "QueryPlanningTimeInMillis": 0,
                           "ServiceProcessingTimeInMillis": 0,
                           "ResultReuseInformation": {"ReusedPreviousResult": False}},
        }
        if self.substatement:
            described["SubstatementType"] = self.substatement
        if "ExecutionParameters" in self.request:
            described["ExecutionParameters"] = self.request["ExecutionParameters"]
        return described


EXECUTIONS: dict[tuple[str, str], dict[str, Execution]] = {}  # (account, Region) -> id -> execution
TOKENS: dict[tuple[str, str, str], str] = {}  # (account, Region, ClientRequestToken) -> execution id


def _error(message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("InvalidRequestException", message)


def _executions(response: Any) -> dict[str, Execution]:
    return EXECUTIONS.setdefault((response.current_account, response.region), {})


def _caller(response: Any) -> Any:
    from sim.moto_ext.athena_tables import Caller

    port = response.normalized_request.environ.get("SERVER_PORT")
    return Caller(response.current_account, response.region, response.get_access_key(), f"http://127.0.0.1:{port}")


def _checked(request: dict[str, Any], response: Any) -> tuple[str, str, str | None]:
    """The query text, workgroup and output location, validated as the API reference says."""
    from moto.athena.models import athena_backends

    extra = sorted(set(request) - REQUEST_MEMBERS)
    if extra:
        raise _error(f"StartQueryExecution: {', '.join(extra)} {api.NOT_EMULATED}")
    query = request.get("QueryString")
    if not isinstance(query, str) or not 1 <= len(query) <= MAX_QUERY_LENGTH:
        raise _error(f"QueryString must be 1 to {MAX_QUERY_LENGTH} characters")
    token = request.get("ClientRequestToken")
    if token is not None and not (isinstance(token, str) and 32 <= len(token) <= 128):
        raise _error("ClientRequestToken must be 32 to 128 characters")
    parameters = request.get("ExecutionParameters")
    if parameters is not None and not (isinstance(parameters, list) and parameters and all(
            isinstance(p, str) and 1 <= len(p) <= 1024 for p in parameters)):
        raise _error("ExecutionParameters must be a non-empty list of 1 to 1024-character strings")
    context = request.get("QueryExecutionContext") or {}
    if set(context) - {"Database", "Catalog"} or context.get("Catalog", "AwsDataCatalog").lower() != "awsdatacatalog":
        raise _error(f"QueryExecutionContext other than Database in AwsDataCatalog {api.NOT_EMULATED}")
    workgroup = request.get("WorkGroup") or "primary"
    found = athena_backends[response.current_account][response.region].get_work_group(workgroup)
    if not found:
        raise _error(f"WorkGroup {workgroup} is not found.")
    configuration = request.get("ResultConfiguration") or {}
    if set(configuration) - {"OutputLocation"}:
        raise _error(f"ResultConfiguration other than OutputLocation {api.NOT_EMULATED}")
    output = configuration.get("OutputLocation") or (
        (found.get("Configuration") or {}).get("ResultConfiguration") or {}).get("OutputLocation")
    if not output or not output.startswith("s3://"):
        raise _error("No output location provided. An output location is required either through the Workgroup "
                     "result configuration setting or as an API input.")
    return query, workgroup, output


def _run(execution: Execution, response: Any) -> None:
    """Run the statement to its final state; a result is stored as CSV in the output location."""
    from sim.moto_ext.athena_exec import execute

    started = time.perf_counter()
    request = execution.request
    try:
        statement = prepare(execution.query, list(request.get("ExecutionParameters") or []))
        execution.statement_type = statement.statement_type
        execution.substatement = statement.kind
        caller = _caller(response)
        outcome = execute(statement, caller, (request.get("QueryExecutionContext") or {}).get("Database"))
        execution.scanned = outcome.scanned
        execution.update_count = outcome.update_count
        if outcome.result is not None:
            execution.columns = results.column_info(outcome.result.schema)
            execution.rows = results.rows_of(outcome.result)
            _store_csv(caller, execution, outcome.result.column_names)
        execution.state = "SUCCEEDED"
    except QueryFailed as exc:
        execution.state, execution.reason = "FAILED", exc.reason
        execution.error = {"ErrorCategory": exc.category, "ErrorType": exc.error_type, "Retryable": False,
                           "ErrorMessage": exc.reason}
    except Exception as exc:  # a fault of the stand-in itself: the query fails, the server lives
        execution.state, execution.reason = "FAILED", f"INTERNAL_ERROR_QUERY_ENGINE: {type(exc).__name__}: {exc}"
        execution.error = {"ErrorCategory": 1, "ErrorType": 401, "Retryable": True, "ErrorMessage": execution.reason}
    execution.engine_ms = int((time.perf_counter() - started) * 1000)
    execution.completed = time.time()


def _store_csv(caller: Any, execution: Execution, names: list[str]) -> None:
    bucket, _, key = execution.output_location[len("s3://"):].partition("/")
    body = results.csv_text(names, execution.rows).encode()
    try:
        caller.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    except Exception as exc:
        raise QueryFailed(f"PERMISSION_DENIED: Unable to write the query result to {execution.output_location}: "
                          f"{exc}", category=2, error_type=1200) from exc


def start_query_execution(_moto: Callable[..., Any]) -> Callable[..., str]:
    def start(self: Any) -> str:
        request = api.body(self)
        query, workgroup, output = _checked(request, self)
        executions = _executions(self)
        token = request.get("ClientRequestToken")
        if token is not None and (key := (self.current_account, self.region, token)) in TOKENS:
            earlier = executions[TOKENS[key]]
            if earlier.request != request:
                raise _error("Idempotent parameters do not match")
            return json.dumps({"QueryExecutionId": earlier.id})
        execution = Execution(str(uuid.uuid4()), query, request, "", workgroup, time.time())
        execution.output_location = (output if output.endswith("/") else output + "/") + f"{execution.id}.csv"
        executions[execution.id] = execution
        if token is not None:
            TOKENS[(self.current_account, self.region, token)] = execution.id
        _run(execution, self)
        return json.dumps({"QueryExecutionId": execution.id})

    return start


def _execution(response: Any, request: dict[str, Any]) -> Execution:
    found = _executions(response).get(str(request.get("QueryExecutionId")))
    if found is None:
        raise _error(f"QueryExecution {request.get('QueryExecutionId')} was not found")
    return found


def get_query_execution(_moto: Callable[..., Any]) -> Callable[..., str]:
    def get(self: Any) -> str:
        return json.dumps({"QueryExecution": _execution(self, api.body(self)).describe()})

    return get


def get_query_results(_moto: Callable[..., Any]) -> Callable[..., str]:
    def results_page(self: Any) -> str:
        request = api.body(self)
        execution = _execution(self, request)
        if execution.state != "SUCCEEDED":
            raise _error(f"Query did not finish successfully. Final query state: {execution.state}")
        size = request.get("MaxResults", 1000)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1000:
            raise _error("MaxResults must be between 1 and 1000")
        names = [c["Name"] for c in execution.columns]
        rows = [names, *execution.rows] if execution.columns else []
        start = _offset(request.get("NextToken"), execution.id)
        answer: dict[str, Any] = {"ResultSet": {
            "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]}
                     for row in rows[start:start + size]],
            "ResultSetMetadata": {"ColumnInfo": execution.columns}}}
        if execution.update_count is not None:
            answer["UpdateCount"] = execution.update_count
        if start + size < len(rows):
            answer["NextToken"] = api.token(execution.id, start + size)
        return json.dumps(answer)

    return results_page


def _offset(next_token: str | None, query_id: str) -> int:
    try:
        return api.offset(next_token, query_id)
    except Exception as exc:
        raise _error("The NextToken is not valid for this query") from exc


def stop_query_execution(_moto: Callable[..., Any]) -> Callable[..., str]:
    def stop(self: Any) -> str:
        _execution(self, api.body(self))  # finished already: stopping changes nothing
        return "{}"

    return stop


def list_query_executions(_moto: Callable[..., Any]) -> Callable[..., str]:
    def listed(self: Any) -> str:
        request = api.body(self)
        workgroup = request.get("WorkGroup")
        ids = [e.id for e in sorted(_executions(self).values(), key=lambda e: -e.submitted)
               if workgroup is None or e.workgroup == workgroup]
        size = request.get("MaxResults", 50)
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 50:
            raise _error("MaxResults must be between 0 and 50")
        start = _offset(request.get("NextToken"), f"list:{workgroup}")
        answer: dict[str, Any] = {"QueryExecutionIds": ids[start:start + size]}
        if start + size < len(ids):
            answer["NextToken"] = api.token(f"list:{workgroup}", start + size)
        return json.dumps(answer)

    return listed


def _forget() -> None:
    EXECUTIONS.clear()
    TOKENS.clear()


def install(registry: Registry) -> None:
    from moto.athena.responses import AthenaResponse

    why = "moto stores queries and runs none"
    registry.replace(AthenaResponse, "start_query_execution", start_query_execution, f"{why}: this one runs them")
    registry.replace(AthenaResponse, "get_query_execution", get_query_execution, f"{why}: states and statistics")
    registry.replace(AthenaResponse, "get_query_results", get_query_results, f"{why}: the real result, paged")
    registry.replace(AthenaResponse, "stop_query_execution", stop_query_execution, f"{why}: its executions")
    registry.replace(AthenaResponse, "list_query_executions", list_query_executions, f"{why}: its executions")
    registry.on_reset(_forget)
