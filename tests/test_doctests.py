"""The docstring examples of every cytoplan module run (``python -m doctest`` style).

The compat layer must also work without pycytominer installed.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import cytoplan

#: every module but ``__main__`` entry points (importing one would run the CLI)
MODULES = sorted(
    module.name
    for module in pkgutil.walk_packages(cytoplan.__path__, "cytoplan.")
    if not module.name.endswith("__main__")
)


def test_every_layer_is_covered() -> None:
    for layer in ("cytoplan.stats.", "cytoplan.ops.", "cytoplan.io.", "cytoplan.compat."):
        assert any(name.startswith(layer) for name in MODULES), layer


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
