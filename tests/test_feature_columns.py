"""Which columns are features: a compartment column is one even when a CSV holds no
number for it, and one that holds text is an error, never a feature quietly left out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import cytoplan as cp
from cytoplan.exceptions import ParameterError, SchemaError
from cytoplan.schema import column_roles

WELLS = pl.DataFrame(
    {
        "Metadata_Plate": ["P1"] * 4,
        "Metadata_Well": ["A01", "A02", "B01", "B02"],
        "Cells_a": [1.0, 2.0, 3.0, 5.0],
        "Cells_empty": [None, None, None, None],
        "Nuclei_b": [2.0, 1.0, 4.0, 3.0],
    },
    schema_overrides={"Cells_empty": pl.Float64},
)


def test_an_empty_csv_feature_column_is_read_as_numbers_as_pandas_reads_it(
    tmp_path: Path,
) -> None:
    table = tmp_path / "wells.csv"
    WELLS.write_csv(table)  # the empty column is written as empty fields
    assert pd.read_csv(table)["Cells_empty"].dtype == "float64"
    lf = cp.scan_profiles(table)
    assert lf.collect_schema()["Cells_empty"] == pl.Float64
    selected = cp.feature_select(lf, operations="drop_na_columns").collect_schema().names()
    assert selected == ["Metadata_Plate", "Metadata_Well", "Cells_a", "Nuclei_b"]
    assert cp.aggregate(lf, method="mean").collect()["Cells_empty"].null_count() == 4


def test_a_text_compartment_column_is_an_error_for_every_operation() -> None:
    lf = WELLS.with_columns(pl.col("Nuclei_b").cast(pl.String)).lazy()
    message = r"not numeric: Nuclei_b \(String\)"
    with pytest.raises(SchemaError, match=message):
        cp.aggregate(lf)
    with pytest.raises(SchemaError, match=message):
        cp.normalize(lf, method="standardize").collect()
    with pytest.raises(SchemaError, match=message):
        cp.feature_select(lf, operations="variance_threshold").collect()
    with pytest.raises(SchemaError, match=message):
        cp.consensus(lf, replicate_columns=["Metadata_Plate"]).collect()
    # naming the features leaves the text column alone
    named = cp.normalize(lf, features=["Cells_a"], method="standardize").collect()
    assert named["Nuclei_b"].to_list() == ["2.0", "1.0", "4.0", "3.0"]
    # describing a table is not an operation: the column is listed under "other"
    assert column_roles(lf).other == ["Nuclei_b"]


def test_a_pandas_frame_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(TypeError, match=r"pandas\.DataFrame: pass polars\.from_pandas"):
        cp.normalize(WELLS.to_pandas())
    with pytest.raises(TypeError, match=r"got a builtins\.int"):
        cp.aggregate(42)  # type: ignore[arg-type]
    # a real table's repr is longer than a file name may be: still the type error
    wide = pd.DataFrame({f"Cells_{i}": range(50) for i in range(40)})
    with pytest.raises(TypeError, match=r"got a pandas\.DataFrame"):
        cp.aggregate(wide)
    with pytest.raises(ParameterError, match=r"subset must be a polars .* got a pandas"):
        cp.aggregate(WELLS.lazy(), strata="Metadata_Well", subset=WELLS.to_pandas())


def test_nan_and_null_strata_are_one_missing_group_as_in_pandas() -> None:
    import pycytominer

    cells = pl.DataFrame(
        {"Metadata_dose": [1.0, float("nan"), None, 1.0], "Cells_a": [1.0, 2.0, 3.0, 4.0]}
    )
    ours = cp.aggregate(cells, strata="Metadata_dose").collect()
    ref = pycytominer.aggregate(cells.to_pandas(), strata=["Metadata_dose"], features=["Cells_a"])
    assert ours["Metadata_dose"].to_list() == [1.0, None]
    assert ours["Cells_a"].to_list() == ref["Cells_a"].tolist() == [2.5, 2.5]
