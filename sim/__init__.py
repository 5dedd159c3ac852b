"""The local AWS stand-in: a moto server on 127.0.0.1 plus a fleet simulator.

Never imported by ``dags/`` or the ``patch_compliance`` library: it replaces AWS, nothing more.
"""
