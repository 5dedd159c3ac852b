# The product's Airflow image: Airflow 3.3.2 on Python 3.11 with the patch_compliance package and its
# pinned dependencies (constraints.txt, the same lock the tests run against) and the DAGs baked in.
#
#   docker build -t patch-compliance:0.1.0 .                 # production image
#   docker build --target local -t patch-compliance:local .  # + the AWS stand-in (moto) and simulator
#
# docker-compose.yaml builds and uses both; nothing is installed when a container starts.
FROM apache/airflow:3.3.2-python3.11 AS product

COPY --chown=airflow:0 pyproject.toml README.md constraints.txt /opt/patch-compliance/
COPY --chown=airflow:0 plugins/patch_compliance /opt/patch-compliance/plugins/patch_compliance
RUN pip install --no-cache-dir --constraint /opt/patch-compliance/constraints.txt /opt/patch-compliance

COPY --chown=airflow:0 dags /opt/airflow/dags
# The UI's report view is the package's `airflow.plugins` entry point: no file in the plugins folder.
# config/fleet.yaml is deployment-specific: mounted (docker-compose.yaml) or baked into a derived image.
ENV PATCH_COMPLIANCE_CONFIG=/opt/airflow/config/fleet.yaml

# --- the local stand-in: moto with the product's extensions, and the fleet simulator ---------------------
FROM product AS local

RUN pip install --no-cache-dir --constraint /opt/patch-compliance/constraints.txt "moto[server]"
COPY --chown=airflow:0 sim /opt/airflow/sim
ENV PYTHONPATH=/opt/airflow
