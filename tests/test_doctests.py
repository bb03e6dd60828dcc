"""The docstring examples of every cytoplan module run (``python -m doctest`` style)."""

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
