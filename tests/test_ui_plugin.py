"""The report view's Airflow plugin (patch_compliance.ui_plugin): what Airflow's loaders find, the entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from patch_compliance.ui_link import URL_PREFIX, URL_ROUTE

REPO = Path(__file__).resolve().parents[1]


def test_airflow_loads_the_plugin_from_the_package_entry_point_without_the_web_app(tmp_path) -> None:
    """What Airflow's loaders find: the installed package's entry point, nothing in the plugins folder (so no
    duplicate registration); a process that loads the plugin imports neither FastAPI nor the app."""
    code = (
        "import json, sys\n"
        "from airflow._shared.plugins_manager import _load_entrypoint_plugins, _load_plugins_from_plugin_directory\n"
        "folder, folder_errors = _load_plugins_from_plugin_directory(sys.argv[1])\n"
        "plugins, errors = _load_entrypoint_plugins()\n"
        "print(json.dumps({'errors': errors, 'folder': [p.name for p in folder], 'folder_errors': folder_errors,\n"
        "    'plugins': [{'name': p.name, 'views': p.external_views,\n"
        "    'apps': [a['url_prefix'] for a in p.fastapi_apps]} for p in plugins],\n"
        "    'loaded': sorted(m for m in ('fastapi', 'patch_compliance.ui_app') if m in sys.modules)}))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    result = subprocess.run([sys.executable, "-c", code, str(REPO / "plugins")], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["folder"] == [] and found["folder_errors"] == {}
    assert found["errors"] == {} and found["loaded"] == []
    (plugin,) = [p for p in found["plugins"] if p["name"] == "patch_compliance"]
    assert plugin["apps"] == [URL_PREFIX]
    (view,) = plugin["views"]
    assert (view["href"], view["url_route"], view["destination"]) == ("patch-compliance/", URL_ROUTE, "nav")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["airflow.plugins"]
    assert declared == {"patch_compliance": "patch_compliance.ui_plugin:PatchComplianceUiPlugin"}
