"""The optional ``cluster`` extra (Ray Data, and the pyarrow it brings): imported only when asked for.

The runtime without the extra never imports ray or pyarrow; asking for what needs them is one
line naming the extra, not a traceback.
"""

from __future__ import annotations

import importlib

from musictext.errors import DependencyError

CLUSTER_EXTRA = 'pip install "musictext[cluster]"'


def need(module: str, what: str):
    """``module`` (ray, ray.data, pyarrow.parquet ...) or a one-line DependencyError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DependencyError(f"{what} needs the cluster extra: {CLUSTER_EXTRA}") from None
