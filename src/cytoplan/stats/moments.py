"""Streamed moments: mergeable count / mean / M2 per group, and cross-products by TSQR.

Standardization and sphering need first and second moments of every feature over
(a subset of) the single cells of a plate. Both come from **mergeable partials**,
so a plate can be summarised in one streaming pass, and partials from row batches,
files or workers can be combined afterwards:

* per column: ``count`` (non-missing values), ``mean`` and ``m2`` (the sum of
  squared deviations from the mean; variance = ``m2 / count`` with ddof 0). These
  are the count / sum / sum-of-squares partials in their numerically stable form:
  raw sums of squares lose every digit when the mean is large against the spread,
  ``(count, mean, m2)`` merge exactly with Chan, Golub & LeVeque's rule
  (:func:`merge_moments`);
* for the d × d cross-product matrix: the triangular factor ``R`` of a tall-skinny
  QR (``XᵀX = RᵀR``), accumulated batch by batch (:class:`TallSkinnyQR`). The
  singular values and right singular vectors of ``R`` are those of ``X`` with the
  backward stability of an SVD of ``X`` itself, which a Gram matrix (squaring the
  condition number) does not give; only d × d floats are ever held.

NaN and null are both missing (pandas / scikit-learn semantics): skipped per column.

Examples
--------
>>> import polars as pl
>>> lf = pl.LazyFrame({"g": ["a", "a", "b"], "x": [1.0, 3.0, 5.0]})
>>> grouped_moments(lf, ["x"], by=["g"]).select("g", "feature", "count", "mean", "m2").rows()
[('a', 'x', 2, 2.0, 2.0), ('b', 'x', 1, 5.0, 0.0)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from cytoplan.config import settings
from cytoplan.exceptions import ParameterError, StatisticsError
from cytoplan.schema import require_summary_columns

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np
    import numpy.typing as npt

__all__ = [
    "CHUNK_ROWS",
    "STREAM_BYTES_PER_COLUMN",
    "TallSkinnyQR",
    "fixed_batches",
    "grouped_moments",
    "merge_moments",
    "moment_blocks",
    "moments_variance",
]

#: Streaming-engine memory per aggregated column (Polars 2.1, measured on 3,000
#: float columns: about 0.85 MiB each), used to size column blocks.
STREAM_BYTES_PER_COLUMN = 2**20


def grouped_moments(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    *,
    by: Sequence[str] = (),
    predicate: pl.Expr | None = None,
    memory_limit: str | int | None = None,
) -> pl.DataFrame:
    """Count, mean and M2 of ``columns`` per group: one streaming pass, deterministic.

    Rows stream through in fixed chunks of :data:`CHUNK_ROWS` (:func:`fixed_batches`);
    each chunk's moments come from NumPy and are merged in row order with Chan's rule.
    The result is bit-for-bit the same whatever the thread count or the source's
    batches (Polars' own streaming mean and variance are not: their partial sums
    are combined in whatever order threads finish). Columns are processed in blocks
    (:func:`moment_blocks`) so that memory stays within ``memory_limit``.

    Parameters
    ----------
    lf
        The table; each column block is a projection of it (a Parquet scan reads
        only those columns; an expensive plan would be re-run per block).
    columns
        Numeric columns.
    by
        Group keys (none: the whole table is one group). Null keys form a group.
    predicate
        Optional row filter applied first (e.g. negative controls); groups without
        any selected row do not appear.
    memory_limit
        Memory budget (``"2GiB"``, bytes; default from :func:`cytoplan.config.settings`).

    Returns
    -------
    polars.DataFrame
        Tidy: ``by`` keys (sorted, nulls last), ``feature`` (in the order given),
        ``rows`` (rows of the group, missing values included), ``count``
        (non-missing values), ``mean`` and ``m2`` (sum of squared deviations from
        the mean). ``mean`` and ``m2`` are null when ``count`` is 0.

    Examples
    --------
    >>> import polars as pl
    >>> lf = pl.LazyFrame({"x": [1.0, None, float("nan"), 3.0], "y": [1, 1, 1, 1]})
    >>> grouped_moments(lf, ["x", "y"]).select("feature", "rows", "count", "mean", "m2").rows()
    [('x', 4, 2, 2.0, 2.0), ('y', 4, 4, 1.0, 0.0)]
    """
    keys = list(by)
    names = list(columns)
    schema = lf.collect_schema()
    require_summary_columns(schema, names, keys)
    frame = lf if predicate is None else lf.filter(predicate)
    groups: dict[tuple[object, ...], list[_Moments]] = {}
    for b, block in enumerate(moment_blocks(names, memory_limit)):
        query = frame.select(*keys, *(pl.col(name).cast(pl.Float64) for name in block))
        for chunk in fixed_batches(query):
            parts = (
                chunk.partition_by(keys, as_dict=True, include_key=False, maintain_order=True)
                if keys
                else {(): chunk}
            )
            for key, part in parts.items():
                per_block = groups.setdefault(_canonical(key), [])
                if len(per_block) == b:
                    per_block.append(_Moments(len(block)))
                per_block[b].update(part.to_numpy())
    if not keys and not groups:  # no row at all: one group of zero counts
        groups[()] = [_Moments(len(block)) for block in moment_blocks(names, memory_limit)]
    return _tidy(groups, keys, names, schema)


_NAN = float("nan")


def _canonical(key: tuple[object, ...]) -> tuple[object, ...]:
    """A group key whose NaN is one object: NaN != NaN, so each chunk's own NaN would
    start a group of its own in a dict (a float key column holding NaN)."""
    return tuple(_NAN if isinstance(v, float) and math.isnan(v) else v for v in key)


#: Rows per chunk of the deterministic reduction. Fixed: chunk boundaries decide the
#: last bits of the sums, so they never depend on threads, memory or the source.
CHUNK_ROWS = 2048


def fixed_batches(lf: pl.LazyFrame, rows: int = CHUNK_ROWS) -> Iterator[pl.DataFrame]:
    """The rows of ``lf`` in order (streaming), in frames of exactly ``rows`` rows.

    Only the last frame may be shorter. Polars' own batches vary in size with the
    source and the engine; these do not.

    >>> import polars as pl
    >>> [b.height for b in fixed_batches(pl.LazyFrame({"x": range(10)}), rows=4)]
    [4, 4, 2]
    """
    pending: list[pl.DataFrame] = []
    count = 0
    for batch in lf.collect_batches(chunk_size=rows, maintain_order=True):
        if batch.height == 0:
            continue
        pending.append(batch)
        count += batch.height
        while count >= rows:
            whole = pl.concat(pending) if len(pending) > 1 else pending[0]
            yield whole.slice(0, rows)
            rest = whole.slice(rows)
            pending = [rest] if rest.height else []
            count = rest.height
    if count:
        yield pl.concat(pending) if len(pending) > 1 else pending[0]


def moment_blocks(columns: Sequence[str], memory_limit: str | int | None = None) -> list[list[str]]:
    """Column blocks whose streaming pass fits in about half of ``memory_limit``.

    The streaming engine's memory grows with the number of columns (morsel buffers,
    about 1 MiB per column on Polars 2.1), not with the number of rows.

    >>> [len(b) for b in moment_blocks([f"c{i}" for i in range(3000)], "2GiB")]
    [1024, 1024, 952]
    """
    budget = settings(memory_limit=memory_limit).memory_limit
    width = max(16, (budget // 2) // STREAM_BYTES_PER_COLUMN)
    return [list(columns[start : start + width]) for start in range(0, len(columns), width)]


class _Moments:
    """count / mean / M2 of d columns, updated chunk by chunk (NaN is missing)."""

    def __init__(self, d: int) -> None:
        import numpy as np

        self.rows = 0
        self.count = np.zeros(d)
        self.mean = np.zeros(d)
        self.m2 = np.zeros(d)

    def update(self, x: npt.NDArray[np.float64]) -> None:
        import numpy as np

        rows = x.shape[0]
        if rows == 0:
            return
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            total = x.sum(axis=0)
            nb = np.full(x.shape[1], float(rows))
            mb = total / rows
            holes = np.isnan(total)  # columns with a missing value in this chunk
            if holes.any():
                part = x[:, holes]
                present = ~np.isnan(part)
                nb[holes] = present.sum(axis=0)
                mb[holes] = np.where(present, part, 0.0).sum(axis=0) / nb[holes]
            deviation = x - mb
            if holes.any():
                gaps = deviation[:, holes]
                deviation[:, holes] = np.where(np.isnan(gaps), 0.0, gaps)
            m2b = np.einsum("ij,ij->j", deviation, deviation)
            na = self.count
            n = na + nb
            delta = mb - self.mean
            mean = self.mean + delta * (nb / n)
            m2 = self.m2 + m2b + delta * delta * (na * nb / n)
        first = na == 0
        self.mean = np.where(nb == 0, self.mean, np.where(first, mb, mean))
        self.m2 = np.where(nb == 0, self.m2, np.where(first, m2b, m2))
        self.count = n
        self.rows += rows


def _tidy(
    groups: dict[tuple[object, ...], list[_Moments]],
    keys: list[str],
    names: list[str],
    schema: pl.Schema,
) -> pl.DataFrame:
    import numpy as np

    frames = []
    for key, blocks in groups.items():
        count = np.concatenate([m.count for m in blocks]).astype(np.int64)
        defined = count > 0
        frames.append(
            pl.DataFrame(
                {
                    **{
                        k: pl.Series([v] * len(names), dtype=schema[k])
                        for k, v in zip(keys, key, strict=True)
                    },
                    "feature": names,
                    "rows": pl.Series([blocks[0].rows] * len(names), dtype=pl.Int64),
                    "count": count,
                    "mean": np.where(defined, np.concatenate([m.mean for m in blocks]), np.nan),
                    "m2": np.where(defined, np.concatenate([m.m2 for m in blocks]), np.nan),
                }
            ).with_columns(pl.col("mean", "m2").fill_nan(None))
        )
    if not frames:
        return pl.DataFrame(schema={**{k: schema[k] for k in keys}, **_TIDY_SCHEMA})
    tidy = pl.concat(frames, how="vertical")
    if keys:  # group-major order: every feature of the first group, then the next group
        tidy = tidy.sort(keys, nulls_last=True, maintain_order=True)
    return tidy


_TIDY_SCHEMA = {
    "feature": pl.String,
    "rows": pl.Int64,
    "count": pl.Int64,
    "mean": pl.Float64,
    "m2": pl.Float64,
}


def merge_moments(
    left: pl.DataFrame, right: pl.DataFrame, *, by: Sequence[str] = ()
) -> pl.DataFrame:
    """Combine two tidy moment tables (e.g. of two row batches) into one.

    Uses the pairwise update of Chan, Golub & LeVeque: with ``n = na + nb`` and
    ``δ = mean_b − mean_a``: ``mean = mean_a + δ·nb/n`` and
    ``m2 = m2_a + m2_b + δ²·na·nb/n``. Groups present on one side only are kept.

    Examples
    --------
    >>> import polars as pl
    >>> a = grouped_moments(pl.LazyFrame({"x": [1.0, 2.0]}), ["x"])
    >>> b = grouped_moments(pl.LazyFrame({"x": [3.0, 4.0, 5.0]}), ["x"])
    >>> merge_moments(a, b).select("rows", "count", "mean", "m2").row(0)
    (5, 5, 3.0, 10.0)
    """
    keys = [*by, "feature"]
    joined = left.join(right, on=keys, how="full", coalesce=True, nulls_equal=True)
    na = pl.col("count").fill_null(0).cast(pl.Float64)
    nb = pl.col("count_right").fill_null(0).cast(pl.Float64)
    n = na + nb
    ma = pl.col("mean").fill_null(0.0)
    mb = pl.col("mean_right").fill_null(0.0)
    delta = mb - ma
    mean = pl.when(n > 0).then(ma + delta * nb / n)
    m2 = pl.when(n > 0).then(
        pl.col("m2").fill_null(0.0)
        + pl.col("m2_right").fill_null(0.0)
        + delta * delta * na * nb / n
    )
    merged = joined.select(
        *keys,
        (pl.col("rows").fill_null(0) + pl.col("rows_right").fill_null(0)).alias("rows"),
        n.cast(pl.Int64).alias("count"),
        mean.alias("mean"),
        m2.alias("m2"),
    )
    return merged.sort(keys, nulls_last=True, maintain_order=True) if by else merged


def moments_variance(moments: pl.DataFrame, *, ddof: int = 0) -> pl.Series:
    """Variances from a tidy moment table (``m2 / (count - ddof)``; null when undefined).

    Examples
    --------
    >>> import polars as pl
    >>> m = grouped_moments(pl.LazyFrame({"x": [1.0, 2.0, 3.0, 4.0]}), ["x"])
    >>> moments_variance(m).to_list(), moments_variance(m, ddof=1).to_list()
    ([1.25], [1.6666666666666667])
    """
    denominator = (pl.col("count") - ddof).cast(pl.Float64)
    return moments.select(
        pl.when(denominator > 0).then(pl.col("m2") / denominator).alias("var")
    ).to_series()


class TallSkinnyQR:
    """The R factor of a tall matrix, accumulated from row batches (streamed TSQR).

    ``update(X_batch)`` folds a batch of rows into ``R`` (``[R; X_batch] = Q R'``);
    ``merge(other)`` combines two accumulators (as two workers would). At every
    point ``RᵀR`` equals ``XᵀX`` of all rows seen, while only a d × d matrix is kept.
    The SVD of ``R`` gives the singular values and right singular vectors of ``X``
    (``X = U S Vᵀ`` and ``R = Ũ S Vᵀ``) with the accuracy of an SVD of ``X``.

    Parameters
    ----------
    n_columns
        d, the number of columns.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(12.0).reshape(6, 2) ** 1.5
    >>> qr = TallSkinnyQR(2)
    >>> qr.update(x[:4]).update(x[4:]).n_rows
    6
    >>> bool(np.allclose(qr.singular_values(), np.linalg.svd(x, compute_uv=False)))
    True
    """

    def __init__(self, n_columns: int) -> None:
        self.n_columns = n_columns
        self.n_rows = 0
        self._r: npt.NDArray[np.float64] | None = None

    def update(self, rows: npt.ArrayLike) -> TallSkinnyQR:
        """Fold a batch of rows (``b × d`` float array, no missing values) into R."""
        import numpy as np

        block = np.asarray(rows, dtype=np.float64)
        if block.ndim != 2 or block.shape[1] != self.n_columns:
            msg = f"expected a 2-D batch with {self.n_columns} columns, got shape {block.shape}"
            raise ParameterError(msg)
        if block.shape[0] == 0:
            return self
        if not np.isfinite(block).all():
            msg = "a batch holds NaN or infinite values; the cross-products are undefined"
            raise StatisticsError(msg)
        stacked = block if self._r is None else np.vstack([self._r, block])
        self._r = np.asarray(np.linalg.qr(stacked, mode="r"), dtype=np.float64)
        self.n_rows += block.shape[0]
        return self

    def merge(self, other: TallSkinnyQR) -> TallSkinnyQR:
        """Combine with another accumulator of the same width (in place; returns self)."""
        if other.n_columns != self.n_columns:
            msg = f"cannot merge R factors of {self.n_columns} and {other.n_columns} columns"
            raise ParameterError(msg)
        if other._r is not None:
            rows = self.n_rows
            self.update(other._r)
            self.n_rows = rows + other.n_rows
        return self

    @property
    def r(self) -> npt.NDArray[np.float64]:
        """The triangular factor (``min(rows, d) × d``; zeros before any update)."""
        import numpy as np

        if self._r is None:
            return np.zeros((0, self.n_columns))
        return self._r

    def gram(self) -> npt.NDArray[np.float64]:
        """``XᵀX`` of all rows seen (``RᵀR``)."""
        return self.r.T @ self.r

    def singular_values(self) -> npt.NDArray[np.float64]:
        """Singular values of the rows seen, largest first."""
        import numpy as np

        return np.asarray(np.linalg.svd(self.r, compute_uv=False))

    def svd(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(S, Vt)``: singular values and right singular vectors of the rows seen.

        ``Vt`` is d × d (``full_matrices``) even when fewer than d rows were seen.
        """
        import numpy as np

        r = self.r
        if r.shape[0] < self.n_columns:
            r = np.vstack([r, np.zeros((self.n_columns - r.shape[0], self.n_columns))])
        _, s, vt = np.linalg.svd(r, full_matrices=True)
        return np.asarray(s), np.asarray(vt)
