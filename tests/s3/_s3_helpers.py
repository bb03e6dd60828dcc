"""Helpers shared by the S3 tests."""

from __future__ import annotations

import io

import numpy as np
import polars as pl

GALLERY = "cellpainting-gallery"
PRIVATE = "private"


def parquet_bytes(frame: pl.DataFrame, *, row_group_size: int | None = None) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, row_group_size=row_group_size)
    return buffer.getvalue()


def wide_plate(
    plate: str, *, n_wells: int = 8, cells_per_well: int = 25, n_features: int = 3000, seed: int = 0
) -> pl.DataFrame:
    """Single cells of one plate: Metadata_Plate/Well and ``n_features`` float features."""
    rng = np.random.default_rng(seed)
    n = n_wells * cells_per_well
    wells = [f"{'ABCDEFGH'[i % 8]}{i // 8 + 1:02d}" for i in range(n_wells)]
    columns: dict[str, object] = {
        "Metadata_Plate": [plate] * n,
        "Metadata_Well": np.repeat(wells, cells_per_well).tolist(),
    }
    values = rng.normal(size=(n, n_features))
    for j in range(n_features):
        columns[f"Cells_F{j:04d}"] = values[:, j]
    return pl.DataFrame(columns)
