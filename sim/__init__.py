"""The local AWS stand-in: a moto server on 127.0.0.1 plus a fleet simulator.

Never imported by ``dags/`` or the ``patch_compliance`` library: it replaces AWS, nothing more.
"""

import sys
from pathlib import Path

# `python -m sim` from a checkout: make the library importable without PYTHONPATH=plugins.
_PLUGINS = str(Path(__file__).resolve().parents[1] / "plugins")
if _PLUGINS not in sys.path:
    sys.path.append(_PLUGINS)
