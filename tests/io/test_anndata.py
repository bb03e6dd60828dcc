"""AnnData sink and source: features ↔ X/var, other columns ↔ obs, h5ad and zarr."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cytoplan.exceptions import SourceError
from cytoplan.io.anndata import anndata_format, read_anndata, scan_anndata, write_anndata
from cytoplan.testing.profiles import make_profiles

anndata = pytest.importorskip("anndata")


@pytest.mark.parametrize("suffix", [".h5ad", ".zarr"])
def test_round_trip(tmp_path, suffix):
    frame = make_profiles(plates=2, wells=6, features=5, seed=4)
    path = tmp_path / f"profiles{suffix}"
    assert write_anndata(frame, path) == path
    adata = anndata.read_h5ad(path) if suffix == ".h5ad" else anndata.read_zarr(str(path))
    features = [c for c in frame.columns if not c.startswith("Metadata_")]
    assert list(adata.var_names) == features
    assert list(adata.obs.columns) == [c for c in frame.columns if c.startswith("Metadata_")]
    np.testing.assert_array_equal(adata.X, frame.select(features).to_numpy())
    back = read_anndata(path)
    assert back.columns == frame.columns
    assert back.select(pl.col("^Metadata_.*$")).equals(frame.select(pl.col("^Metadata_.*$")))
    np.testing.assert_array_equal(
        back.select(features).to_numpy(), frame.select(features).to_numpy()
    )


def test_explicit_columns_lazy_input_and_overwrite(tmp_path):
    frame = pl.DataFrame({"Metadata_Well": ["A", "B"], "n": [1, 2], "Cells_x": [0.5, None]})
    path = tmp_path / "x.h5ad"
    write_anndata(frame.lazy(), path, features=["Cells_x"], obs_names=["w1", "w2"])
    adata = anndata.read_h5ad(path)
    assert list(adata.obs_names) == ["w1", "w2"]
    assert list(adata.obs.columns) == ["Metadata_Well", "n"]
    write_anndata(frame, path)  # replaces the file
    assert list(anndata.read_h5ad(path).var_names) == ["n", "Cells_x"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_errors(tmp_path):
    with pytest.raises(SourceError, match="h5ad or"):
        anndata_format("x.parquet")
    with pytest.raises(SourceError, match="not found"):
        read_anndata(tmp_path / "missing.h5ad")
    bad = tmp_path / "bad.h5ad"
    bad.write_text("nope")
    with pytest.raises(SourceError):
        read_anndata(bad)


@pytest.mark.parametrize("suffix", [".h5ad", ".zarr"])
def test_scan_in_row_slices_equals_read(tmp_path, suffix):
    frame = make_profiles(plates=2, wells=10, features=6, seed=5)
    path = tmp_path / f"p{suffix}"
    write_anndata(frame, path)
    lf = scan_anndata(path, batch_rows=7)
    assert lf.collect().equals(read_anndata(path))
    picked = lf.filter(pl.col("Metadata_control_type") == "negcon").select(frame.columns[5])
    expected = frame.filter(pl.col("Metadata_control_type") == "negcon").select(frame.columns[5])
    assert picked.collect().equals(expected)
    assert lf.head(3).collect().height == 3
