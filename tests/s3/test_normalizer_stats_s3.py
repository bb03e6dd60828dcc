"""Fitted normalizer statistics saved to and loaded from S3 (moto on 127.0.0.1)."""

from __future__ import annotations

import polars as pl
import pytest
from _s3_helpers import PRIVATE, wide_plate

from cytoplan.exceptions import SourceError
from cytoplan.ops._normalizer import Normalizer
from cytoplan.ops.normalize import MADRobustize, Standardize
from cytoplan.testing.s3 import LocalS3Server


def test_save_and_load_round_trip(
    s3_server: LocalS3Server, prefix: str, credentialed: dict
) -> None:
    cells = pl.concat(
        [wide_plate("P1", n_features=5, seed=1), wide_plate("P2", n_features=5, seed=2)]
    )
    fitted = MADRobustize().fit(cells.lazy(), by="Metadata_Plate")
    url = f"s3://{PRIVATE}/{prefix}/stats/mad.parquet"
    assert fitted.save(url, storage_options=credentialed) == url
    assert s3_server.keys(PRIVATE, f"{prefix}/") == [f"{prefix}/stats/mad.parquet"]

    loaded = Normalizer.load(url, storage_options=credentialed)
    assert type(loaded) is MADRobustize
    assert loaded.by_ == ["Metadata_Plate"]
    assert loaded.stats_.equals(fitted.stats_)
    expected = fitted.transform(cells.lazy()).collect()
    assert loaded.transform(cells.lazy()).collect().equals(expected)
    # a robust z-score: each plate's median is 0 after the transform
    medians = expected.group_by("Metadata_Plate").agg(pl.col("Cells_F0000").median())
    assert medians["Cells_F0000"].abs().max() == pytest.approx(0.0, abs=1e-12)


def test_missing_object_names_the_url(
    s3_server: LocalS3Server, prefix: str, credentialed: dict
) -> None:
    url = f"s3://{PRIVATE}/{prefix}/nothing.parquet"
    with pytest.raises(SourceError, match=r"nothing\.parquet"):
        Standardize.load(url, storage_options=credentialed)
