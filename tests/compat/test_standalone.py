"""The compat layer is standalone: it never imports pycytominer."""

from __future__ import annotations

import subprocess
import sys


def test_compat_does_not_need_pycytominer():
    """The compat layer is standalone: importing and using it never imports pycytominer."""
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
