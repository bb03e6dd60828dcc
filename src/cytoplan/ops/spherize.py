"""Sphering (whitening): PCA, ZCA, PCA-cor and ZCA-cor, as pycytominer 1.7.1.

Fit (spec §2.2.4), per group on the reference rows:

1. ``-cor`` methods standardize (scikit-learn ``StandardScaler``: mean, ddof-0 std);
   otherwise the data are centred (``center=True``) or used as they are;
2. the SVD ``Xt = U S Vᵀ`` of that matrix gives ``S`` and ``Vᵀ`` (d × d); when
   ``n <= d`` the missing singular values are filled with the last non-zero one;
3. ``W = V diag(1 / (S + ε)) √(n − 1)`` (PCA) or ``W Vᵀ`` (ZCA).

Transform: ``((x − mean) / std) @ W``, in row batches (a NumPy matmul per batch, no
n × d array). ZCA keeps the feature names; PCA renames them ``PC1..PCd``.

The SVD is taken of the data themselves when they are small (``n·d`` within a
fraction of ``memory_limit``: pycytominer's own computation, bit for bit up to
summation order), otherwise of the triangular factor of a streamed tall-skinny QR
(:class:`cytoplan.stats.moments.TallSkinnyQR`): the same singular values and
vectors with the stability of an SVD, from d × d memory.

Examples
--------
>>> import polars as pl
>>> lf = pl.LazyFrame({"Cells_a": [1.0, 2.0, 3.0, 4.0], "Cells_b": [2.0, 1.0, 4.0, 3.0]})
>>> out = Spherize(method="ZCA", epsilon=0.0).fit(lf).transform(lf).collect()
>>> cov = out.select(ab=pl.cov("Cells_a", "Cells_b"), aa=pl.var("Cells_a"), bb=pl.var("Cells_b"))
>>> [round(v, 6) for v in cov.row(0)]
[0.0, 1.0, 1.0]
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl

from cytoplan.config import settings
from cytoplan.exceptions import SchemaError, StatisticsError
from cytoplan.ops._normalizer import (
    GROUP_INDEX,
    Normalizer,
    attach_group_index,
    describe_group,
    group_index,
)
from cytoplan.ops._params import check_choice, check_number, reject
from cytoplan.stats.correlation import fixed_batches
from cytoplan.stats.moments import TallSkinnyQR, grouped_moments

if TYPE_CHECKING:
    from cytoplan._typing import SpherizeMethod
    from cytoplan.ops.aggregate import FeatureSpec

__all__ = ["SPHERIZE_METHODS", "Spherize"]

SPHERIZE_METHODS = ("PCA", "ZCA", "PCA-cor", "ZCA-cor")
_WHERE = "spherize"
_EPS = 2.220446049250313e-16
_RESERVED = ("feature", "n_samples", "center", "scale")
_MISSING = "__cytoplan_missing"
_VALUES = "__cytoplan_values"
_TMP = "__cytoplan_spherized"
#: copies of the reference rows alive during the direct SVD (X, Xt, U/work space)
_DIRECT_COPIES = 4
#: rows per streamed TSQR batch (at least d)
_TSQR_ROWS = 8192

Array = Any  # numpy arrays (numpy is imported lazily)


class Spherize(Normalizer):
    """Whitening: decorrelate the features and give them unit variance on the reference.

    Parameters
    ----------
    method
        ``"ZCA-cor"`` (default, as pycytominer's ``normalize``), ``"ZCA"``, ``"PCA"``
        or ``"PCA-cor"`` (case-sensitive). ``-cor`` methods standardize first.
    center
        Centre the data (required by the ``-cor`` methods).
    epsilon
        Added to the singular values (pycytominer's ``spherize_epsilon``, 1e-6).
    features
        None (numeric ``Cells_/Cytoplasm_/Nuclei_`` columns), a selector, a list or
        ``"infer"``.
    memory_limit
        Up to about a quarter of it, the reference rows are factorised directly;
        beyond, by a streamed tall-skinny QR over row batches.

    Attributes
    ----------
    output_names_ : list of str
        The output feature names (the features for ZCA, ``PC1..PCd`` for PCA).
    rank_ : list of int
        Numerical rank of each group's transformed reference matrix.

    Notes
    -----
    ``stats_`` holds, per group and input feature (one row each): ``center`` and
    ``scale`` (what is subtracted and divided before the matrix product; 0 and 1
    when unused) and the feature's row of ``W`` in one column per output name. PCA
    components get a deterministic sign (the largest loading of each is positive).
    """

    name: ClassVar[str] = "spherize"
    _param_names: ClassVar[tuple[str, ...]] = ("method", "center", "epsilon")
    _stats_columns: ClassVar[tuple[str, ...]] = _RESERVED

    output_names_: list[str]
    rank_: list[int]

    def __init__(
        self,
        *,
        method: SpherizeMethod = "ZCA-cor",
        center: bool = True,
        epsilon: float = 1e-6,
        features: FeatureSpec = None,
        memory_limit: str | int | None = None,
    ) -> None:
        super().__init__(features=features, memory_limit=memory_limit)
        self.method = method
        self.center = center
        self.epsilon = epsilon

    def _check_params(self) -> None:
        check_choice("method", self.method, SPHERIZE_METHODS, where=_WHERE, hint="case-sensitive")
        if not isinstance(self.center, bool):
            reject("center", self.center, "True or False", where=_WHERE)
        if self.method.endswith("-cor") and not self.center:
            reject(
                "center",
                self.center,
                "True with method " + repr(self.method),
                where=_WHERE,
                hint=f"{self.method} standardizes the data and needs center=True",
            )
        check_number("epsilon", self.epsilon, low=0.0, where=_WHERE, hint="default 1e-6")

    @property
    def _standardize(self) -> bool:
        return self.method.endswith("-cor")

    def _output_names(self, features: list[str]) -> list[str]:
        if self.method.startswith("PCA"):
            return [f"PC{i}" for i in range(1, len(features) + 1)]
        return list(features)

    # ------------------------------------------------------------------ fitting
    def _fit_stats(
        self,
        lf: pl.LazyFrame,
        schema: pl.Schema,
        features: list[str],
        keys: list[str],
        predicate: pl.Expr | None,
        groups: pl.DataFrame,
    ) -> pl.DataFrame:
        outputs = self._output_names(features)
        clash = sorted(set(outputs) & {*_RESERVED, *keys})
        if clash:
            msg = f"feature name(s) {clash} clash with the statistics table's columns; rename them"
            raise SchemaError(msg)
        _refuse_taken_outputs(schema, features, outputs)
        d = len(features)
        budget = settings(memory_limit=self.memory_limit).memory_limit
        total = int(groups["n_samples"].sum())
        if total * d * 8 * _DIRECT_COPIES <= budget:
            factors = self._factor_direct(lf, features, keys, predicate, groups)
        else:
            factors = self._factor_streamed(lf, schema, features, keys, predicate, groups)
        parts = []
        ranks = []
        for i, (mean, scale, s, vt, n) in enumerate(factors):
            label = describe_group(keys, groups.row(i)[: len(keys)]) if keys else ""
            w, rank = self._whitening(s, vt, n, d, label)
            ranks.append(rank)
            part = pl.DataFrame(
                {
                    "feature": features,
                    "n_samples": pl.Series([n] * d, dtype=pl.Int64),
                    "center": mean,
                    "scale": scale,
                    **{name: w[:, j] for j, name in enumerate(outputs)},
                }
            )
            if keys:
                key_values = groups.slice(i, 1).select(keys)
                part = key_values.select(pl.all().repeat_by(d).explode()).hstack(part)
            parts.append(part)
        self.rank_ = ranks
        return pl.concat(parts, how="vertical")

    def _scale_from(
        self, mean: Array, var: Array, n: Array, features: list[str], label: str
    ) -> tuple[Array, Array]:
        """What transform subtracts and divides by, from the reference mean and variance."""
        import numpy as np

        d = len(features)
        if not self.center:
            return np.zeros(d), np.ones(d)
        if not self._standardize:
            return mean, np.ones(d)
        # scikit-learn's _is_constant_feature (which includes var == 0, pycytominer's
        # "Divide by zero error"): such a feature cannot be standardized
        constant = var <= n * _EPS * var + (n * mean * _EPS) ** 2
        if constant.any():
            names = [features[j] for j in np.flatnonzero(constant)]
            where = f" in {label}" if label else ""
            msg = (
                f"{self.method} sphering divides by the standard deviation, but "
                f"{len(names)} feature(s) are constant on the reference rows{where}: "
                f"{_listed(names)}. Remove them first (feature_select variance_threshold), "
                "or use method='ZCA'/'PCA'"
            )
            raise StatisticsError(msg)
        return mean, np.sqrt(var)

    def _factor_direct(
        self,
        lf: pl.LazyFrame,
        features: list[str],
        keys: list[str],
        predicate: pl.Expr | None,
        groups: pl.DataFrame,
    ) -> list[tuple[Array, Array, Array, Array, int]]:
        """SVD of each group's transformed reference matrix (small data)."""
        import numpy as np

        frame = lf if predicate is None else lf.filter(predicate)
        if keys:
            frame = attach_group_index(frame, keys, groups.select(keys))
        data = frame.select(
            *([GROUP_INDEX] if keys else []),
            *(pl.col(name).cast(pl.Float64) for name in features),
        ).collect()
        if keys:
            parts = data.partition_by(GROUP_INDEX, as_dict=True, include_key=False)
            by_index = {key[0]: part for key, part in parts.items()}
        factors = []
        for i in range(groups.height):
            label = describe_group(keys, groups.row(i)[: len(keys)]) if keys else ""
            part = by_index[i] if keys else data
            _check_missing(part, features, label)
            x = part.to_numpy()
            n = x.shape[0]
            mean, var = _mean_var(x)
            center, scale = self._scale_from(mean, var, np.float64(n), features, label)
            if self._standardize:
                xt = (x - center) / scale
            elif self.center:
                xt = x - center
            else:
                xt = x
            # all d right singular vectors: full matrices only when n <= d (otherwise U
            # would be n x n, 0.9 GiB for 11,136 reference cells, and is not used)
            _, s, vt = np.linalg.svd(xt, full_matrices=n <= xt.shape[1])
            factors.append((center, scale, s, vt, n))
        return factors

    def _factor_streamed(
        self,
        lf: pl.LazyFrame,
        schema: pl.Schema,
        features: list[str],
        keys: list[str],
        predicate: pl.Expr | None,
        groups: pl.DataFrame,
    ) -> list[tuple[Array, Array, Array, Array, int]]:
        """Moments in one streaming pass, then a streamed TSQR of the transformed rows."""
        import numpy as np

        d = len(features)
        moments = grouped_moments(
            lf, features, by=keys, predicate=predicate, memory_limit=self.memory_limit
        )
        centers, scales = [], []
        for i in range(groups.height):
            label = describe_group(keys, groups.row(i)[: len(keys)]) if keys else ""
            block = moments.slice(i * d, d)
            n = int(block["rows"][0])
            counts = block["count"].to_numpy()
            if (counts < n).any():
                names = [features[j] for j in np.flatnonzero(counts < n)]
                _raise_missing(names, label)
            mean = block["mean"].to_numpy()
            if not np.isfinite(mean).all():
                names = [features[j] for j in np.flatnonzero(~np.isfinite(mean))]
                _raise_missing(names, label, infinite=True)
            var = block["m2"].to_numpy() / n
            center, scale = self._scale_from(mean, var, np.float64(n), features, label)
            centers.append(center)
            scales.append(scale)
        accumulators = [TallSkinnyQR(d) for _ in range(groups.height)]
        # fixed by the shape, not the memory limit: batch boundaries decide the last bits
        rows_per_batch = max(d, _TSQR_ROWS)
        select = [pl.col(name).cast(pl.Float64) for name in features]
        if keys:
            select.insert(0, group_index(keys, groups.select(keys)).alias(GROUP_INDEX))
        # pulled slice by slice for a file: a reader running ahead of the QR held 1.8 GiB
        batches = fixed_batches(
            lf,
            rows_per_batch,
            where=predicate,
            select=select,
            memory_limit=self.memory_limit,
            width=d + 1,
        )
        for batch in batches:
            x = batch.select(features).to_numpy()
            if keys:
                index = batch[GROUP_INDEX].to_numpy()
                for g in np.unique(index):
                    rows = x[index == g]
                    accumulators[g].update((rows - centers[g]) / scales[g])
            else:
                accumulators[0].update((x - centers[0]) / scales[0])
        factors = []
        for i, accumulator in enumerate(accumulators):
            _, s, vt = np.linalg.svd(accumulator.r, full_matrices=True)
            factors.append((centers[i], scales[i], s, vt, accumulator.n_rows))
        return factors

    def _whitening(self, s: Array, vt: Array, n: int, d: int, label: str) -> tuple[Array, int]:
        """pycytominer 1.7.1's ``Spherize.fit`` from the SVD, step for step."""
        import numpy as np

        where = f" ({label})" if label else ""
        # np.linalg.matrix_rank's rule, from the same singular values
        tol = s.max(initial=0.0) * max(n, d) * np.finfo(np.float64).eps
        r = int(np.count_nonzero(s > tol))
        center = self.center
        # pycytominer's rank check, with its operator precedence kept: the last term
        # reads ``not (center & (r == n))`` (spec §2.2.4; docs/parity/normalize.md)
        if not ((r == d) | (center & (r == n - 1)) | (not center & (r == n))):
            msg = (
                f"the reference matrix is not full rank{where}: n = {n}, d = {d}, r = {r}. "
                "Check for linear dependencies between features and remove them"
            )
            raise StatisticsError(msg)
        if n <= d:
            if (r != n - 1) & (r != n):
                msg = (
                    f"with n <= d the reference matrix should have rank n - 1 or n{where}: "
                    f"n = {n}, d = {d}, r = {r} (duplicated reference rows?)"
                )
                raise StatisticsError(msg)
            s = np.concatenate((s[0:r], np.repeat(s[r - 1], d - r)))
        s = s + self.epsilon
        # deterministic sign: the largest loading of each component is positive
        # (exact negation: ZCA is unchanged, PCA no longer depends on the LAPACK build)
        flip = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
        flip[flip == 0] = 1.0
        vt = vt * flip[:, None]
        w = (vt / s[:, np.newaxis]).transpose() * np.sqrt(n - 1)
        if self.method in ("ZCA", "ZCA-cor"):
            w = w @ vt
        return np.ascontiguousarray(w), r

    def _fitted_extras(self) -> dict[str, Any]:
        return {"rank_": [int(rank) for rank in self.rank_]}

    def _set_fitted(self, stats: pl.DataFrame) -> None:
        self.output_names_ = self._output_names(self.feature_names_in_)
        if not hasattr(self, "rank_"):
            self.rank_ = []

    def _arrays(self) -> list[tuple[Array, Array, Array]]:
        import numpy as np

        d = len(self.feature_names_in_)
        arrays = []
        for i in range(self.groups_.height):
            block = self.stats_.slice(i * d, d)
            w = block.select(self.output_names_).to_numpy().astype(np.float64, copy=False)
            arrays.append(
                (
                    block["center"].to_numpy().astype(np.float64),
                    block["scale"].to_numpy().astype(np.float64),
                    np.ascontiguousarray(w),
                )
            )
        return arrays

    # -------------------------------------------------------------- transforming
    def _apply(self, lf: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
        features = self.feature_names_in_
        outputs = self.output_names_
        _refuse_taken_outputs(schema, features, outputs)
        # one fixed-size array per row: NumPy sees the batch as one (rows, d) matrix,
        # and Polars packs and unpacks it far faster than a struct of d fields
        # (an identity pass over 100,224 x 1,447: 4.0 against 9.0 s)
        packed = [
            pl.any_horizontal(pl.col(name).is_null() for name in features).alias(_MISSING),
            pl.concat_arr([pl.col(name).cast(pl.Float64) for name in features]).alias(_VALUES),
        ]
        frame = lf
        if self.by_:
            frame = self._with_group_index(lf)
            packed.insert(0, pl.col(GROUP_INDEX))
        function = partial(_sphere_batch, arrays=self._arrays(), grouped=bool(self.by_))
        spherized = pl.struct(packed).map_batches(
            function, return_dtype=pl.Array(pl.Float64, len(outputs)), is_elementwise=True
        )
        frame = frame.with_columns(spherized.alias(_TMP))
        position = {name: j for j, name in enumerate(outputs)}

        def output(name: str) -> pl.Expr:
            return pl.col(_TMP).arr.get(position[name]).alias(name)

        taken = set(features)
        columns: list[pl.Expr] = []
        if self.method.startswith("PCA"):
            # the components take the place of the first feature
            placed = False
            for name in schema.names():
                if name not in taken:
                    columns.append(pl.col(name))
                elif not placed:
                    placed = True
                    columns += [output(out) for out in outputs]
        else:
            # ZCA keeps every feature at its own position
            columns = [output(name) if name in taken else pl.col(name) for name in schema.names()]
        return frame.select(columns)


def _refuse_taken_outputs(schema: pl.Schema, features: list[str], outputs: list[str]) -> None:
    """PCA's components (``PC1``...) must not land on a column the table keeps."""
    taken = [name for name in outputs if name in schema and name not in features]
    if taken:
        msg = (
            f"PCA names its components {outputs[0]}..{outputs[-1]}, but the table already "
            f"has column(s) {_listed(taken)}; rename or drop them first"
        )
        raise SchemaError(msg)


def _sphere_batch(
    batch: pl.Series, *, arrays: list[tuple[Array, Array, Array]], grouped: bool
) -> pl.Series:
    """((x − center) / scale) @ W for one batch of rows; rows with a null give nulls.

    The batch is worked through :data:`_SLICE_ROWS` rows at a time, so NumPy's copies
    (the standardized values, the product) stay small whatever size of batch Polars
    hands over; only the result is as large as the batch.
    """
    import numpy as np

    x = batch.struct.field(_VALUES).to_numpy()  # (rows, d); a null is NaN here
    missing = batch.struct.field(_MISSING).to_numpy()
    index = batch.struct.field(GROUP_INDEX).to_numpy() if grouped else None
    out = np.empty((x.shape[0], arrays[0][2].shape[1]))
    for start in range(0, x.shape[0], _SLICE_ROWS):
        rows = slice(start, start + _SLICE_ROWS)
        part = x[rows]
        if index is None:
            center, scale, w = arrays[0]
            out[rows] = _tiled_product((part - center) / scale, w)
            continue
        groups = index[rows]
        for g in np.unique(groups):
            chosen = groups == g
            center, scale, w = arrays[g]
            out[rows][chosen] = _tiled_product((part[chosen] - center) / scale, w)
    result = pl.Series(batch.name, out, dtype=pl.Array(pl.Float64, out.shape[1]))
    del out
    if missing.any():
        result = pl.select(pl.when(pl.Series(missing)).then(None).otherwise(result)).to_series()
    return result.alias(batch.name)


#: Rows of a batch standardized and multiplied at once (a multiple of ``_TILE_ROWS``).
_SLICE_ROWS = 8192

#: Rows per matrix product in the transform (see :func:`_tiled_product`).
_TILE_ROWS = 512


def _tiled_product(z: Array, w: Array) -> Array:
    """``z @ w`` as products of ``_TILE_ROWS``-row tiles, the last one padded with zeros.

    BLAS may sum a row's products in another order for another matrix shape (its
    kernels and blocking depend on the shape), so ``z @ w`` on the batches Polars hands
    over would give last bits that depend on the thread count and the source's row
    groups. Every product here has the same shape, so a row's result depends on that
    row alone.
    """
    import numpy as np

    n = z.shape[0]
    out = np.empty((n, w.shape[1]))
    tile = np.zeros((_TILE_ROWS, z.shape[1]))
    for start in range(0, n, _TILE_ROWS):
        rows = min(_TILE_ROWS, n - start)
        tile[:rows] = z[start : start + rows]
        if rows < _TILE_ROWS:
            tile[rows:] = 0.0
        out[start : start + rows] = (tile @ w)[:rows]
    return out


def _mean_var(x: Array) -> tuple[Array, Array]:
    """scikit-learn's ``StandardScaler`` mean and variance (one batch, no NaN)."""
    import numpy as np

    n = x.shape[0]
    total = np.sum(x, axis=0, dtype=np.float64)
    mean = total / n
    temp = x - mean
    correction = np.sum(temp, axis=0)
    temp **= 2
    unnormalized = np.sum(temp, axis=0) - correction**2 / n
    return mean, unnormalized / n


def _listed(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _check_missing(part: pl.DataFrame, features: list[str], label: str) -> None:
    counts = part.select(
        (pl.col(name).is_null() | pl.col(name).is_nan() | pl.col(name).is_infinite()).sum()
        for name in features
    ).row(0)
    names = [name for name, count in zip(features, counts, strict=True) if count]
    if names:
        _raise_missing(names, label)


def _raise_missing(names: list[str], label: str, *, infinite: bool = False) -> None:
    where = f" in {label}" if label else ""
    kind = "infinite" if infinite else "missing (NaN/null) or infinite"
    msg = (
        f"sphering needs complete reference rows, but {len(names)} feature(s) have "
        f"{kind} values{where}: {_listed(names)}. Drop those features "
        "(feature_select drop_na_columns) or the incomplete rows first"
    )
    raise StatisticsError(msg)
