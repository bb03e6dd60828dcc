"""Shared inputs for the pycytominer parity tests: the same frames go to both libraries."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cytoplan.testing.profiles import make_profiles


@pytest.fixture(autouse=True)
def _quiet_deprecations():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


@pytest.fixture(scope="session")
def cells() -> pd.DataFrame:
    """Single cells: 2 plates × 8 wells × 3 cells, 8 features, a few missing values."""
    df = make_profiles(plates=2, wells=8, cells_per_well=3, features=8, seed=1).to_pandas()
    df.insert(2, "Metadata_ObjectNumber", np.tile(np.arange(1, 4), len(df) // 3))
    return df


@pytest.fixture(scope="session")
def wells() -> pd.DataFrame:
    """Well-level profiles without missing values (sphering needs finite data)."""
    return make_profiles(plates=2, wells=12, features=6, seed=2, nulls=False).to_pandas()


@pytest.fixture(scope="session")
def wells_nan() -> pd.DataFrame:
    """Well-level profiles with missing values."""
    return make_profiles(plates=2, wells=12, features=6, seed=3).to_pandas()


def assert_same(
    ours: pd.DataFrame, theirs: pd.DataFrame, *, rtol: float = 1e-9, atol: float = 1e-12
) -> None:
    """Same columns, index, values (floats to ``rtol``) and numeric dtypes."""
    assert list(ours.columns) == list(theirs.columns)
    pd.testing.assert_index_equal(ours.index, theirs.index, exact=False)
    for name in theirs.columns:
        a, b = ours[name], theirs[name]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            assert a.dtype == b.dtype, (name, a.dtype, b.dtype)
            np.testing.assert_allclose(
                a.to_numpy(dtype=float),
                b.to_numpy(dtype=float),
                rtol=rtol,
                atol=atol,
                err_msg=name,
            )
        else:
            assert (
                a.astype(object).where(a.notna(), None).tolist()
                == b.astype(object).where(b.notna(), None).tolist()
            ), name
