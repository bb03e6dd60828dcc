"""pycytominer 1.7.1's public API on cytoplan's engine: switch with one import.

Replace ``import pycytominer`` by ``from cytoplan.compat import pycytominer``, or
``from pycytominer import normalize`` by ``from cytoplan.compat.pycytominer import
normalize``. Names, signatures, defaults, pandas in/out, output files and error
types follow pycytominer 1.7.1; the differences are listed in docs/parity/compat.md.
The module layout mirrors pycytominer's (``.operations``, ``.cyto_utils``,
``.cyto_utils.modz``, ...).

Examples
--------
>>> import pandas as pd
>>> from cytoplan.compat import pycytominer
>>> cells = pd.DataFrame({"Metadata_Plate": ["P"] * 4, "Metadata_Well": ["A", "A", "B", "B"],
...                       "Cells_x": [1.0, 3.0, 5.0, 9.0]})
>>> wells = pycytominer.aggregate(cells)
>>> pycytominer.normalize(wells)["Cells_x"].tolist()
[-1.0, 1.0]
"""

from __future__ import annotations

from cytoplan.compat.pycytominer.aggregate import aggregate
from cytoplan.compat.pycytominer.annotate import annotate
from cytoplan.compat.pycytominer.consensus import consensus
from cytoplan.compat.pycytominer.feature_select import feature_select
from cytoplan.compat.pycytominer.normalize import normalize

__all__ = ["aggregate", "annotate", "consensus", "feature_select", "normalize"]
