"""cytoplan: image-based profiling as lazy, out-of-core Polars/DuckDB query plans.

Public functions are imported lazily, so ``import cytoplan`` loads Polars only
(no DuckDB, NumPy, pandas or YAML).

>>> import cytoplan
>>> cytoplan.__version__
'0.1.0'
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Polars reads this once, when it is first imported: each Parquet scan then keeps only
#: the projected columns' part of the file's metadata, which halves the fixed cost of a
#: scan of a wide file (3,010 columns x 116 row groups: 18 ms -> 9 ms per column block;
#: per-well medians of 300,672 cells 5.05 s -> 4.65 s). Set it yourself (``0`` turns it
#: off); imported after Polars, cytoplan cannot change it (docs/benchmarks.md).
_PRUNE_PARQUET_METADATA = "POLARS_PRUNE_PARQUET_METADATA"
if "polars" not in sys.modules:
    os.environ.setdefault(_PRUNE_PARQUET_METADATA, "1")

_PUBLIC: dict[str, str] = {
    # io (sources and sinks)
    "scan": "cytoplan.api",
    "scan_cellprofiler_sqlite": "cytoplan.io.sqlite",
    "scan_cellprofiler_csv": "cytoplan.io.csv_folder",
    "scan_profiles": "cytoplan.io.profiles",
    "write_profiles": "cytoplan.io.sinks",
    "convert": "cytoplan.io.convert",
    "LinkSpec": "cytoplan.io.cellprofiler",
    # profiling operations
    "aggregate": "cytoplan.api",
    "annotate": "cytoplan.api",
    "normalize": "cytoplan.api",
    "feature_select": "cytoplan.api",
    "consensus": "cytoplan.api",
}

__all__ = ["__version__", *_PUBLIC]

if TYPE_CHECKING:
    from cytoplan.api import aggregate, annotate, consensus, feature_select, normalize, scan
    from cytoplan.io.cellprofiler import LinkSpec
    from cytoplan.io.convert import convert
    from cytoplan.io.csv_folder import scan_cellprofiler_csv
    from cytoplan.io.profiles import scan_profiles
    from cytoplan.io.sinks import write_profiles
    from cytoplan.io.sqlite import scan_cellprofiler_sqlite


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        msg = f"module 'cytoplan' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
