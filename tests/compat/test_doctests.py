"""The docstring examples of the compat layer and the new io modules run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import cytoplan.compat

MODULES = sorted(
    {m.name for m in pkgutil.walk_packages(cytoplan.compat.__path__, "cytoplan.compat.")}
    | {
        "cytoplan.io.deepprofiler",
        "cytoplan.io.anndata",
        "cytoplan.io.cell_locations",
        "cytoplan.io.collate",
        "cytoplan.testing.deepprofiler",
    }
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(
            module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
    assert result.failed == 0


def test_compat_does_not_need_pycytominer():
    """The compat layer is standalone: importing and using it never imports pycytominer."""
    import subprocess
    import sys

    code = (
        "import sys, pandas as pd\n"
        "from cytoplan.compat import pycytominer\n"
        "from cytoplan.compat.pycytominer import cyto_utils, operations\n"
        "df = pd.DataFrame({'Metadata_Plate': ['P'] * 2, 'Metadata_Well': ['A', 'B'],"
        " 'Cells_x': [1.0, 3.0]})\n"
        "pycytominer.normalize(pycytominer.aggregate(df))\n"
        "print('pycytominer' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
