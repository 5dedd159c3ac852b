"""What the DAGs run: task bodies and DAG defaults, kept out of ``dags/`` so DAG files only wire.

One module per DAG (``daily``, ``monthly_report``, ``cve_evidence``, ``policy_apply``) and ``common``
for what they share (default args, the failure callback, the lake asset, a run's snapshot date).
"""
