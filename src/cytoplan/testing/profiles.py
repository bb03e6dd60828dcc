"""Small synthetic profile tables (well level or single cell) for tests and examples.

Unlike :mod:`cytoplan.testing.synthetic`, which writes whole CellProfiler plates to
disk, this makes one in-memory :class:`polars.DataFrame` with the shapes profiling
operations care about: several plates, negative-control wells, skewed,
near-constant, correlated and anti-correlated features, and missing values.

Examples
--------
>>> df = make_profiles(plates=2, wells=8, cells_per_well=1, features=6, seed=1)
>>> df.shape
(16, 10)
>>> df.columns[:4]
['Metadata_Plate', 'Metadata_Well', 'Metadata_control_type', 'Metadata_broad_sample']
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["make_profiles"]

_COMPARTMENTS = ("Cells", "Cytoplasm", "Nuclei")
_MEASURES = (
    "AreaShape_Area",
    "Intensity_MeanIntensity_DNA",
    "Texture_Variance_RNA_3",
    "Granularity_1_AGP",
    "Correlation_Pearson_ER_Mito",
    "RadialDistribution_FracAtD_DNA_1of4",
)


def _well_name(index: int) -> str:
    return f"{chr(ord('A') + index // 24)}{index % 24 + 1:02d}"


def make_profiles(
    *,
    plates: int = 2,
    wells: int = 24,
    cells_per_well: int = 1,
    features: int = 12,
    seed: int = 0,
    nulls: bool = True,
) -> pl.DataFrame:
    """A profile table: ``plates × wells × cells_per_well`` rows, ``features`` feature columns.

    Every fourth well is a negative control (``Metadata_control_type == "negcon"``).
    Feature kinds cycle through: normal, lognormal (skewed), Poisson counts,
    near-constant, a correlated copy of the first feature, an anti-correlated copy.
    With ``nulls=True`` about 2% of values are missing (never in the first feature).
    """
    rng = np.random.default_rng(seed)
    n_wells = plates * wells
    n = n_wells * cells_per_well
    plate = np.repeat([f"BR{p:08d}" for p in range(1, plates + 1)], wells * cells_per_well)
    well_index = np.tile(np.repeat(np.arange(wells), cells_per_well), plates)
    negcon = well_index % 4 == 0
    shift = np.where(negcon, 0.0, rng.normal(0, 1.0, size=wells)[well_index])
    columns: dict[str, object] = {
        "Metadata_Plate": plate,
        "Metadata_Well": [_well_name(i) for i in well_index],
        "Metadata_control_type": np.where(negcon, "negcon", "trt"),
        "Metadata_broad_sample": np.where(
            negcon, "DMSO", [f"BRD-K{i % 6:05d}" for i in well_index]
        ),
    }
    base = rng.normal(10, 2, size=n) + shift
    for j in range(features):
        name = f"{_COMPARTMENTS[j % 3]}_{_MEASURES[(j // 3) % len(_MEASURES)]}_{j}"
        kind = j % 6
        if kind == 0:
            values = base if j == 0 else rng.normal(5 + j, 1 + j % 3, size=n) + shift
        elif kind == 1:
            values = rng.lognormal(1.0, 0.6, size=n) * (1 + 0.2 * shift)
        elif kind == 2:
            values = rng.poisson(4, size=n).astype(float) + np.round(shift)
        elif kind == 3:
            values = np.where(rng.random(n) < 0.05, 2.0, 1.0)
        elif kind == 4:
            values = base * 1.5 + rng.normal(0, 0.2, size=n)
        else:
            values = -base + rng.normal(0, 0.3, size=n)
        values = np.asarray(values, dtype=float)
        if nulls and j > 0:
            values[rng.random(n) < 0.02] = np.nan
        columns[name] = values
    frame = pl.DataFrame(columns)
    return frame.with_columns(pl.selectors.float().fill_nan(None))
