"""pycytominer's ``cyto_utils.single_cell_ingest_utils``: compartment linking columns."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from cytoplan.compat.pycytominer.cyto_utils.util import get_default_compartments

__all__ = [
    "assert_linking_cols_complete",
    "get_default_linking_cols",
    "provide_linking_cols_feature_name_update",
]


def get_default_linking_cols() -> dict[str, dict[str, str]]:
    """How CellProfiler compartments link (cytoplasm → parent cells and nuclei).

    >>> get_default_linking_cols()["cytoplasm"]["cells"]
    'Cytoplasm_Parent_Cells'
    """
    return {
        "cytoplasm": {"cells": "Cytoplasm_Parent_Cells", "nuclei": "Cytoplasm_Parent_Nuclei"},
        "cells": {"cytoplasm": "ObjectNumber"},
        "nuclei": {"cytoplasm": "ObjectNumber"},
    }


def assert_linking_cols_complete(
    linking_cols: Literal["default"] | dict[str, dict[str, str]] = "default",
    compartments: Literal["default"] | list[str] = "default",
) -> None:
    """``ValueError`` unless every link is given both ways and covers every compartment.

    >>> assert_linking_cols_complete()
    """
    if linking_cols == "default":
        linking_cols = get_default_linking_cols()
    if compartments == "default":
        compartments = get_default_compartments()
    comp_err = "compartment not found. Check the specified compartments"
    if not isinstance(linking_cols, dict):
        msg = "linking_cols must be a dictionary or 'default'"
        raise ValueError(msg)
    if not isinstance(compartments, list):
        msg = "compartments must be a list or 'default'"
        raise ValueError(msg)
    checks: list[str] = []
    seen: list[str] = []
    for x in linking_cols:
        seen.append(x)
        if x not in compartments:
            msg = f"{x} {comp_err}"
            raise ValueError(msg)
        for y in linking_cols[x]:
            seen.append(y)
            if y not in compartments:
                msg = f"{y} {comp_err}"
                raise ValueError(msg)
            checks.append("-".join(sorted([x, y])))
    for combo, count in Counter(checks).items():
        if count != 2:
            msg = f"Missing column identifier between {combo}"
            raise ValueError(msg)
    unique = sorted(set(seen))
    if unique != sorted(compartments):
        diff = set(compartments).difference(unique)
        msg = f"All compartments must be specified in the linking_cols, {diff} is missing"
        raise ValueError(msg)


def provide_linking_cols_feature_name_update(
    linking_cols: Literal["default"] | dict[str, dict[str, str]] = "default",
) -> dict[str, str]:
    """Linking column → ``Metadata_<column>``.

    >>> provide_linking_cols_feature_name_update()["ObjectNumber"]
    'Metadata_ObjectNumber'
    """
    if linking_cols == "default":
        linking_cols = get_default_linking_cols()
    names = [linking_cols[col][right] for col in linking_cols for right in linking_cols[col]]
    return {name: f"Metadata_{name}" for name in names}
