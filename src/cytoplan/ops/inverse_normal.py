"""Inverse normal transform: ranks mapped to normal scores, as pycytominer 1.7.1.

pycytominer wraps scikit-learn's ``QuantileTransformer(output_distribution="normal")``
with ``n_quantiles = min(n_quantiles, reference rows)`` (spec §2.2.5). Fit keeps, per
group and feature, the quantiles of the reference values at ``linspace(0, 1,
n_quantiles)`` (NumPy's linear ``nanpercentile``, computed on column blocks sized
from ``memory_limit``). Transform interpolates each value on them in both directions
and averages (ties map to the mid-rank), sets values beyond the ends to 0 and 1,
and applies Φ⁻¹ clipped to about ±5.2 — scikit-learn's ``_transform_col``, per batch.

Deterministic: scikit-learn fits on a random subsample of 10,000 rows
(``random_state=None``) when there are more; cytoplan always uses every reference
row (exact quantiles). Up to 10,000 reference rows per group the results are
scikit-learn's, bit for bit.

Examples
--------
>>> import polars as pl
>>> lf = pl.LazyFrame({"Cells_x": [3.0, 1.0, 2.0, 10.0, 4.0]})
>>> InverseNormal().fit(lf).transform(lf).collect()["Cells_x"].round(4).to_list()
[0.0, -5.1993, -0.6745, 5.1993, 0.6745]
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl

from cytoplan.ops._normalizer import GROUP_INDEX, Normalizer, attach_group_index
from cytoplan.ops._params import check_integer
from cytoplan.stats.blocks import blockwise

if TYPE_CHECKING:
    from cytoplan.ops.aggregate import FeatureSpec

__all__ = ["InverseNormal"]

#: scikit-learn's BOUNDS_THRESHOLD
_BOUNDS = 1e-7
Array = Any  # numpy arrays (numpy is imported lazily)


class InverseNormal(Normalizer):
    """Rank-based inverse normal transform per feature (and group).

    Parameters
    ----------
    n_quantiles
        Landmarks of the empirical distribution (pycytominer's
        ``inverse_normal_n_quantiles``, 1000); at most the number of reference rows.
    features
        None (numeric ``Cells_/Cytoplasm_/Nuclei_`` columns), a selector, a list or
        ``"infer"``.
    memory_limit
        Bounds the column blocks the quantiles are computed on.

    Notes
    -----
    ``stats_`` columns: ``n_quantiles`` (used for the group) and ``quantiles`` (a list
    of that many values, at ``linspace(0, 1, n_quantiles)``).
    """

    name: ClassVar[str] = "inverse_normal"
    _param_names: ClassVar[tuple[str, ...]] = ("n_quantiles",)

    def __init__(
        self,
        *,
        n_quantiles: int = 1000,
        features: FeatureSpec = None,
        memory_limit: str | int | None = None,
    ) -> None:
        super().__init__(features=features, memory_limit=memory_limit)
        self.n_quantiles = n_quantiles

    def _check_params(self) -> None:
        check_integer("n_quantiles", self.n_quantiles, low=1, where="inverse_normal")

    def _fit_stats(
        self,
        lf: pl.LazyFrame,
        schema: pl.Schema,
        features: list[str],
        keys: list[str],
        predicate: pl.Expr | None,
        groups: pl.DataFrame,
    ) -> pl.DataFrame:
        import numpy as np

        counts = groups["n_samples"].to_list()
        sizes = [max(1, min(self.n_quantiles, n)) for n in counts]
        references = [np.linspace(0, 1, size, endpoint=True) * 100 for size in sizes]
        frame = lf if predicate is None else lf.filter(predicate)
        block_keys: list[str] = []
        if keys:
            frame = attach_group_index(frame, keys, groups.select(keys))
            block_keys = [GROUP_INDEX]

        def compute(block_frame: pl.LazyFrame, block: list[str]) -> pl.DataFrame:
            data = block_frame.with_columns(pl.col(block).cast(pl.Float64)).collect()
            if keys:
                parts = data.partition_by(GROUP_INDEX, as_dict=True, include_key=False)
                pieces = [(key[0], part) for key, part in sorted(parts.items())]
            else:
                pieces = [(0, data)]
            rows: dict[str, list[Any]] = {name: [] for name in block}
            for g, part in pieces:
                for name in block:
                    rows[name].append(_quantiles(part[name].to_numpy(), references[g]))
            table = pl.DataFrame(
                {
                    name: pl.Series(name, values, dtype=pl.List(pl.Float64))
                    for name, values in rows.items()
                }
            )
            if keys:
                index = pl.Series(GROUP_INDEX, [g for g, _ in pieces], dtype=pl.UInt32)
                table = table.insert_column(0, index)
            return table

        wide = blockwise(
            frame,
            features,
            compute,
            keys=block_keys,
            memory_limit=self.memory_limit,
            n_rows=int(sum(counts)),
        )
        d = len(features)
        parts = []
        for i in range(groups.height):
            part = pl.DataFrame(
                {
                    "feature": features,
                    "n_samples": pl.Series([counts[i]] * d, dtype=pl.Int64),
                    "n_quantiles": pl.Series([sizes[i]] * d, dtype=pl.Int64),
                    "quantiles": pl.Series(
                        [wide[name][i] for name in features], dtype=pl.List(pl.Float64)
                    ),
                }
            )
            if keys:
                key_values = groups.slice(i, 1).select(keys)
                part = key_values.select(pl.all().repeat_by(d).explode()).hstack(part)
            parts.append(part)
        return pl.concat(parts, how="vertical")

    def _apply(self, lf: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
        import numpy as np

        features = self.feature_names_in_
        d = len(features)
        frame = self._with_group_index(lf) if self.by_ else lf
        exprs = []
        for j, name in enumerate(features):
            tables = []
            for i in range(self.groups_.height):
                row = self.stats_.row(i * d + j, named=True)
                quantiles = np.asarray(row["quantiles"], dtype=np.float64)
                size = int(row["n_quantiles"])
                tables.append((quantiles, np.linspace(0, 1, size, endpoint=True)))
            value = pl.col(name).cast(pl.Float64)
            function = partial(_normal_scores, tables=tables, grouped=bool(self.by_))
            source = pl.struct(pl.col(GROUP_INDEX), value) if self.by_ else value
            exprs.append(
                source.map_batches(function, return_dtype=pl.Float64, is_elementwise=True).alias(
                    name
                )
            )
        return frame.with_columns(exprs).select(schema.names())


def _quantiles(values: Array, references: Array) -> list[float]:
    """``np.nanpercentile(values, references)`` (all-missing: NaN, quietly)."""
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = np.nanpercentile(values, references)
    return [float(v) for v in np.atleast_1d(result)]


def _normal_scores(
    batch: pl.Series, *, tables: list[tuple[Array, Array]], grouped: bool
) -> pl.Series:
    """Apply the quantile tables to one batch of one feature (nulls stay null)."""
    import numpy as np

    if grouped:
        frame = batch.struct.unnest()
        index = frame[GROUP_INDEX].to_numpy()
        values = frame.to_series(1)
        x = values.to_numpy().astype(np.float64, copy=True)
        out = np.empty_like(x)
        for g in np.unique(index):
            rows = index == g
            out[rows] = _transform_column(x[rows], *tables[g])
    else:
        values = batch
        x = values.to_numpy().astype(np.float64, copy=True)
        out = _transform_column(x, *tables[0])
    result = pl.Series(batch.name, out, dtype=pl.Float64)
    if values.null_count():
        result = pl.select(
            pl.when(values.is_null()).then(None).otherwise(result).alias(batch.name)
        ).to_series()
    return result


def _transform_column(x: Array, quantiles: Array, references: Array) -> Array:
    """scikit-learn 1.9 ``QuantileTransformer._transform_col`` (forward, normal output)."""
    import numpy as np
    from scipy import stats

    x = np.array(x, dtype=np.float64, copy=True)
    lower_bound_x = quantiles[0]
    upper_bound_x = quantiles[-1]
    with np.errstate(invalid="ignore"):
        lower_bounds_idx = x - _BOUNDS < lower_bound_x
        upper_bounds_idx = x + _BOUNDS > upper_bound_x
    finite = ~np.isnan(x)
    x_finite = x[finite]
    # interpolate in both directions and average: repeated quantiles map to the mid-rank
    x[finite] = 0.5 * (
        np.interp(x_finite, quantiles, references)
        - np.interp(-x_finite, -quantiles[::-1], -references[::-1])
    )
    x[upper_bounds_idx] = 1
    x[lower_bounds_idx] = 0
    with np.errstate(invalid="ignore"):
        x = stats.norm.ppf(x)
        clip_min = stats.norm.ppf(_BOUNDS - np.spacing(1))
        clip_max = stats.norm.ppf(1 - (_BOUNDS - np.spacing(1)))
        x = np.clip(x, clip_min, clip_max)
    return x
