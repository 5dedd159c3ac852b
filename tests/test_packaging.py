"""The package as a wheel: it builds offline, carries its SQL, suites and templates, and the DAGs import from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--wheel-dir", str(out), str(REPO)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("patch_compliance-*.whl")
    return built


def test_the_wheel_holds_the_package_with_its_resources(wheel) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    source = REPO / "plugins" / "patch_compliance"
    for path in source.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"patch_compliance/{path.relative_to(source).as_posix()}" in names, path
    assert "patch_compliance/py.typed" in names
    assert not any(name.startswith(("tests/", "sim/", "dags/")) for name in names)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[airflow.plugins]\npatch_compliance = patch_compliance.ui_plugin:PatchComplianceUiPlugin" in text


def test_the_dags_import_from_the_installed_wheel_alone(wheel, tmp_path) -> None:
    """Site-packages without the source tree: the wheel unpacked, the venv's dependencies, nothing else."""
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        "import sys, patch_compliance\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "from patch_compliance.config import load_sql\n"
        "assert patch_compliance.__file__.startswith(sys.argv[1]), patch_compliance.__file__\n"
        "load_sql('report/instance_status.sql')\n"
        "bag = DagBag(dag_folder=sys.argv[2])\n"
        "import json; print(json.dumps({'dags': sorted(bag.dag_ids), 'errors': list(bag.import_errors)}))\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PATCH_COMPLIANCE_HOME")}
    env.update({"PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
                "PATCH_COMPLIANCE_CONFIG": str(REPO / "config" / "fleet.yaml"),
                "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path / "no-plugins")})
    # -S: no site processing, so the development install's path entry for plugins/ is not added.
    result = subprocess.run([sys.executable, "-S", "-c", code, str(target), str(REPO / "dags")],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed == {"errors": [], "dags": sorted(p.stem for p in (REPO / "dags").glob("*.py"))}
