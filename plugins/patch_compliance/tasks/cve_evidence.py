"""The CVE evidence DAG's task body: evidence CSV for one CVE id into the reports bucket."""

from __future__ import annotations

import logging
from typing import Any

from patch_compliance.config import Settings, load_settings
from patch_compliance.tasks.common import fail_fast, format_table

log = logging.getLogger(__name__)


@fail_fast
def cve_evidence(cve_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Evidence CSV for one (validated) CVE id into the reports bucket; the table goes to the log."""
    from patch_compliance.aws import Aws
    from patch_compliance.evidence import EVIDENCE_COLUMNS, collect_evidence, write_evidence
    from patch_compliance.inputs import validate_cve_id
    from patch_compliance.query import engine_options

    settings = settings or load_settings()
    cve = validate_cve_id(cve_id)
    out = f"{settings.storage.reports_uri.rstrip('/')}/evidence/{cve}/{cve}.csv"
    access = Aws.from_settings(settings).storage()
    engine, athena = engine_options(settings)
    evidence = collect_evidence(settings.storage.lake_uri, cve, engine=engine, access=access, athena=athena)
    written = write_evidence(evidence, out, access=access)
    log.info("%s\n%s", evidence.message, format_table(EVIDENCE_COLUMNS, evidence.rows))
    log.info("evidence CSV written to %s", written)
    return {"cve_id": cve, "uri": written, "rows": len(evidence.rows), "message": evidence.message,
            "engine": engine, "queries": evidence.queries}
