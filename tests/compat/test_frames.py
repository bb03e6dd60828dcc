"""The pandas → Polars boundary of the compat layer: conversions and schema inference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cytoplan.compat.pycytominer._frames import converted_once, pandas_schema, to_lazy
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    wide = rng.normal(size=(6, 20))
    wide[2, 3] = np.nan
    data: dict[str, object] = {"Metadata_Well": list("ABCDEF"), "Cells_int": range(6)}
    data.update({f"Cells_f{j}": wide[:, j] for j in range(20)})
    data.update({f"Nuclei_g{j}": wide[:, j].astype(np.float32) for j in range(17)})
    data["Image_nested"] = [[1], [2], None, [3], [4], [5]]
    data["Cytoplasm_text"] = list("uvwxyz")
    return pd.DataFrame(data, index=[10, 11, 12, 13, 14, 15])


def test_to_lazy_equals_polars_from_pandas(frame):
    names = [c for c in frame.columns if c != "Image_nested"]
    ours = to_lazy(frame, names).collect()
    expected = pl.from_pandas(frame[names].reset_index(drop=True))
    assert ours.equals(expected)
    assert ours.schema["Nuclei_g0"] == pl.Float32
    assert ours["Cells_f3"].null_count() == 1  # NaN → null, as from_pandas
    assert ours["Cells_f3"].is_nan().sum() == 0


def test_converted_once_serves_the_same_frame_only(frame):
    names = ["Cells_f0", "Cells_f3", "Metadata_Well"]
    outside = to_lazy(frame, names).collect()
    other = frame.copy()
    other["Cells_f0"] = 0.0
    with converted_once(frame, [*names, "Cells_f5", "no_such_column"]):
        assert to_lazy(frame, names).collect().equals(outside)
        assert to_lazy(frame, ["Cells_f5"]).collect().columns == ["Cells_f5"]
        # another frame object, or a column not converted: converted as usual
        assert to_lazy(other, ["Cells_f0"]).collect()["Cells_f0"].to_list() == [0.0] * 6
        assert to_lazy(frame, ["Cells_int"]).collect()["Cells_int"].to_list() == list(range(6))
        with pytest.raises(KeyError):
            to_lazy(frame, ["no_such_column"])
    assert to_lazy(frame, names).collect().equals(outside)


def test_pandas_schema_and_inference(frame):
    schema = pandas_schema(frame)
    assert schema["Cells_int"] == pl.Int64
    assert schema["Nuclei_g0"] == pl.Float64
    assert schema["Image_nested"] == pl.List(pl.Null())
    assert schema["Cytoplasm_text"] == pl.String
    only = pandas_schema(frame, inspect=lambda name: name.startswith("Cells"))
    assert only["Cells_int"] == pl.Int64 and only["Image_nested"] == pl.String
    features = infer_cp_features(frame)
    assert features[0] == "Cells_int" and "Cytoplasm_text" in features
    assert "Image_nested" not in infer_cp_features(frame, image_features=True)
    assert infer_cp_features(frame, metadata=True) == ["Metadata_Well"]


@pytest.mark.parametrize("operation", ["median", "mean"])
@pytest.mark.parametrize("with_text", [False, True])
def test_aggregate_float32_features_match_pycytominer(operation, with_text):
    """float32 features are cast in the Polars plan (no pandas copy): pycytominer's
    float64 results, exact for medians; a numeric-text column still goes through
    pandas' ``astype(float)``."""
    import pycytominer

    from cytoplan.compat import pycytominer as compat

    rng = np.random.default_rng(1)
    values = rng.normal(size=(40, 20)).astype(np.float32)
    df = pd.DataFrame(values, columns=[f"Cells_{i}" for i in range(20)])
    df.iloc[3, 4] = np.nan
    if with_text:
        df["Cells_text"] = ["1.5"] * 40
    df.insert(0, "Metadata_Well", [f"W{i % 5}" for i in range(40)])
    df.insert(0, "Metadata_Plate", "P")
    ours = compat.aggregate(df, operation=operation)
    theirs = pycytominer.aggregate(df, operation=operation)
    assert (ours.dtypes.iloc[2:] == np.float64).all()
    pd.testing.assert_frame_equal(ours, theirs, check_exact=operation == "median", rtol=1e-12)
