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
