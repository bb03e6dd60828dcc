"""A Parquet file whose row groups exceed the memory left for a row stream is named in a warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cytoplan.exceptions import MemoryLimitWarning
from cytoplan.stats.correlation import correlation_matrix
from cytoplan.stats.row_groups import longest_row_group, parquet_scan_path

# 64 MiB leaves a quarter, 16 MiB, once the test process holds more than the limit:
# one 20,000-row group of 120 float64 columns is 18.3 MiB
LIMIT = "64MiB"


def _table(path: Path, rows_per_group: int) -> tuple[Path, np.ndarray]:
    values = np.random.default_rng(0).normal(size=(20_000, 120))
    frame = pl.DataFrame(values, schema=[f"f{i}" for i in range(120)])
    frame.write_parquet(path, row_group_size=rows_per_group)
    return path, values


def test_long_row_groups_are_named_in_a_warning_and_the_result_is_still_right(
    tmp_path: Path,
) -> None:
    path, values = _table(tmp_path / "one_group.parquet", rows_per_group=20_000)
    assert longest_row_group(str(path)) == 20_000
    lf = pl.scan_parquet(path)
    with pytest.warns(
        MemoryLimitWarning, match=r"one_group\.parquet has row groups of up to 20,000"
    ):
        corr = correlation_matrix(lf, lf.collect_schema().names(), memory_limit=LIMIT)
    np.testing.assert_allclose(corr, np.corrcoef(values, rowvar=False), rtol=0, atol=1e-12)


def test_short_row_groups_stream_without_a_warning(tmp_path: Path) -> None:
    path, _ = _table(tmp_path / "short_groups.parquet", rows_per_group=2_048)
    lf = pl.scan_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MemoryLimitWarning)
        correlation_matrix(lf, lf.collect_schema().names(), memory_limit=LIMIT)


def test_scan_path_is_read_from_the_plan(tmp_path: Path) -> None:
    first, _ = _table(tmp_path / "a.parquet", rows_per_group=5_000)
    second, _ = _table(tmp_path / "b.parquet", rows_per_group=5_000)
    assert parquet_scan_path(pl.scan_parquet(first).select("f0").slice(0, 10)) == str(first)
    assert parquet_scan_path(pl.scan_parquet([first, second])) == str(first)
    many = [_table(tmp_path / f"{i}.parquet", rows_per_group=5_000)[0] for i in range(4)]
    assert parquet_scan_path(pl.scan_parquet(many)) == str(many[0])  # "... 3 other sources"
    assert parquet_scan_path(pl.LazyFrame({"f0": [1.0]})) is None
    assert longest_row_group(str(tmp_path / "missing.parquet")) is None
