"""Auditable patch compliance reporting for AWS EC2 fleets.

The library behind the Airflow DAGs: everything here runs and is tested without a scheduler.
"""

__version__ = "0.1.0"
